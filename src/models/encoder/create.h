// Random-weight sentence encoders in the exact Hugging Face + sentence-transformers layout
// (config.json, model.safetensors, tokenizer files, modules.json, 1_Pooling/config.json,
// sentence_bert_config.json), reproducible from a seed, for tests and benchmarks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "models/encoder/config.h"

namespace ferris::models::encoder {

struct CreateOptions {
    uint64_t seed = 1;
    std::string pooling = "mean";  // written to 1_Pooling/config.json: mean, cls or max
    bool normalize = true;         // lists a Normalize module in modules.json
    int64_t max_seq_length = 0;    // sentence_bert_config.json; 0: the model's maximum
    bool overwrite = false;        // allow a non-empty output folder
    std::function<void(size_t, size_t)> progress;  // (bytes drawn so far, total bytes)
};

// The max_seq_length sentence-transformers ships with a preset (e5-small-v2 512,
// all-MiniLM-L6-v2 256, all-mpnet-base-v2 384, tiny 128).
int64_t preset_max_seq_length(const std::string& preset);

// Writes the folder; every file goes through a temp file + rename. Returns the bytes of weights.
size_t create_random_encoder(const std::string& out_dir, const EncoderConfig& config,
                             const CreateOptions& options);

}  // namespace ferris::models::encoder
