// Text generation with a KV cache: prefill the prompt once, then one token at a time with
// positions continuing. Text is streamed through a callback as soon as it is safe to show
// (complete UTF-8, and never a prefix of a stop string that might still complete).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ferris/tokenizer.h"
#include "models/qwen2/model.h"
#include "runtime/sampler.h"

namespace ferris::runtime {

struct GenerateOptions {
    int max_tokens = 128;
    SamplingParams sampling;
    std::vector<std::string> stop;  // stop strings (not included in the text)
    std::vector<int32_t> eos_ids;   // stop tokens (from generation_config.json / config.json)
    bool ignore_eos = false;
    DType kv_dtype = DType::F32;
    int64_t context = 0;  // KV capacity cap; 0 = max_position_embeddings
};

struct GenerateResult {
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> ids;     // generated ids (an EOS that stopped it is included)
    std::string text;             // generated text, stop string excluded
    std::string stop_reason;      // "length", "eos" or "stop"
    double prompt_seconds = 0;    // prefill, through the first sampled token
    double generate_seconds = 0;  // the remaining tokens
    size_t kv_cache_bytes = 0;
};

using TextCallback = std::function<void(const std::string&)>;

GenerateResult generate(const models::qwen2::Qwen2Model& model, const Tokenizer& tokenizer,
                        const std::vector<int32_t>& prompt_ids, const GenerateOptions& options,
                        const TextCallback& on_text = {});

// EOS ids: generation_config.json's eos_token_id when present, else config.json's.
std::vector<int32_t> eos_token_ids(const std::string& model_dir,
                                   const models::qwen2::Qwen2Config& config);

}  // namespace ferris::runtime
