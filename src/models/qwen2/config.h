// Qwen2 / Qwen2.5 configuration as read from a Hugging Face config.json. Both layouts found in
// the wild are accepted: transformers 4 (top-level rope_theta, torch_dtype) and transformers 5
// (rope_parameters {rope_theta, rope_type}, dtype). Unimplemented options are rejected clearly.
#pragma once

#include <string>
#include <vector>

#include "ferris/dtype.h"

namespace ferris::models::qwen2 {

struct Qwen2Config {
    int64_t vocab_size = 0;           // V
    int64_t hidden_size = 0;          // C
    int64_t intermediate_size = 0;    // I
    int64_t num_hidden_layers = 0;    // L
    int64_t num_attention_heads = 0;  // NH
    int64_t num_key_value_heads = 0;  // NKV
    int64_t head_dim = 0;             // HS = C / NH
    int64_t max_position_embeddings = 0;
    double rope_theta = 10000.0;
    double rms_norm_eps = 1e-6;
    bool tie_word_embeddings = false;
    DType dtype = DType::BF16;  // torch_dtype / dtype
    int64_t bos_token_id = -1;
    std::vector<int64_t> eos_token_ids;

    // Parses and validates; errors name `source` (usually the config.json path).
    static Qwen2Config from_json_text(const std::string& text, const std::string& source);
    static Qwen2Config from_file(const std::string& path);
    // Serializes in the transformers-4 layout (what Hub checkpoints carry) or the 5 layout.
    std::string to_json_text(bool transformers5_layout = false) const;
    int64_t parameter_count() const;
};

// Named shapes for create-model: "tiny", "qwen2.5-0.5b", "qwen2.5-1.5b", ...
Qwen2Config preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace ferris::models::qwen2
