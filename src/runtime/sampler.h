// Token sampling with Hugging Face semantics and order: repetition penalty, then temperature,
// top-k, top-p, min-p; temperature 0 is greedy (argmax after the penalty, first index on ties).
// Filters set removed logits to -inf, exactly like transformers' logits warpers.
#pragma once

#include <cstdint>
#include <vector>

#include "ferris/rng.h"

namespace ferris::runtime {

struct SamplingParams {
    float temperature = 1.0f;         // 0 = greedy
    int top_k = 0;                    // 0 = off
    float top_p = 1.0f;               // 1 = off
    float min_p = 0.0f;               // 0 = off
    float repetition_penalty = 1.0f;  // 1 = off
    uint64_t seed = 0;

    void validate() const;  // throws InvalidArgument with the option's name
};

// Each distinct previous token's logit: divided by `penalty` if positive, multiplied if negative.
void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& previous,
                              float penalty);
void apply_temperature(std::vector<float>& logits, float temperature);
void apply_top_k(std::vector<float>& logits, int k);        // keeps ties at the k-th value
void apply_top_p(std::vector<float>& logits, float top_p);  // smallest set with mass >= top_p
void apply_min_p(std::vector<float>& logits, float min_p);  // p >= min_p * p_max
int32_t argmax(const std::vector<float>& logits);

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // `logits` is consumed (modified); `previous` holds prompt + generated ids.
    int32_t sample(std::vector<float>& logits, const std::vector<int32_t>& previous);

private:
    SamplingParams params_;
    Rng rng_;
};

}  // namespace ferris::runtime
