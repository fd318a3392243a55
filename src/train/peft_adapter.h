// PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) applied unmerged at
// inference: y = W x + b + scale * B (A x), scale = lora_alpha / r (or / sqrt(r) with rsLoRA).
// An adapter that does not fit the model (a module it lacks, a wrong shape) is an error.
#pragma once

#include <string>
#include <vector>

#include "models/qwen2/model.h"
#include "nn/linear.h"

namespace ferris::train {

struct LoraConfig {
    int64_t r = 0;
    double lora_alpha = 0;
    bool use_rslora = false;
    std::vector<std::string> target_modules;  // as listed (a regex string is kept as one item)
    double lora_dropout = 0;                  // training only; ignored at inference
    std::string base_model_name_or_path;
    float scale() const;

    static LoraConfig from_file(const std::string& path);
};

struct PeftAdapter {
    LoraConfig config;
    std::string dir;
    // HF module path ("model.layers.0.self_attn.q_proj") -> its LoRA pair.
    std::vector<std::pair<std::string, nn::Lora>> modules;

    static PeftAdapter load(const std::string& dir);
};

// Attaches every module of the adapter to the model's projections (moved to its device).
void attach_adapter(models::qwen2::Qwen2Model& model, const PeftAdapter& adapter);

}  // namespace ferris::train
