// Perplexity as Hugging Face computes it with labels=input_ids: the mean negative
// log-likelihood of tokens 2..N given their prefix, in f32 logits with double accumulation.
#pragma once

#include <vector>

#include "models/qwen2/model.h"

namespace ferris::runtime {

struct PerplexityResult {
    int64_t n_tokens = 0;
    double nll = 0;  // mean over the N-1 predicted tokens
    double ppl = 0;  // exp(nll)
    double seconds = 0;
    std::vector<float> token_nll;  // N-1 values
};

PerplexityResult perplexity(const models::qwen2::Qwen2Model& model,
                            const std::vector<int32_t>& ids);

}  // namespace ferris::runtime
