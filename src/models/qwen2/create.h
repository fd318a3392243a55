// Random-weight Qwen2 checkpoints in the exact Hugging Face layout (config.json, safetensors,
// tokenizer files, generation_config.json), reproducible from a seed on any machine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "models/qwen2/config.h"

namespace ferris::models::qwen2 {

struct CreateOptions {
    uint64_t seed = 1;
    int shards = 1;                     // >1 writes model-0000N-of-0000M + index
    bool transformers5_layout = false;  // config.json layout
    bool overwrite = false;             // allow a non-empty output folder
    // Called after each tensor is drawn with (bytes drawn so far, total bytes).
    std::function<void(size_t, size_t)> progress;
};

// Writes the folder; every file goes through a temp file + rename. Returns the bytes of weights.
size_t create_random_model(const std::string& out_dir, const Qwen2Config& config,
                           const CreateOptions& options);

}  // namespace ferris::models::qwen2
