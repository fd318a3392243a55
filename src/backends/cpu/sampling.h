// Sampling math on host logits with Hugging Face semantics and order: repetition penalty, then
// temperature, top-k, top-p, min-p; temperature 0 is greedy (argmax after the penalty, first index
// on ties). Filters set removed logits to -inf, exactly like transformers' logits warpers. The one
// copy of this math: the CPU backend's `sample` op and runtime::Sampler both call it.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/backend.h"

namespace ferris::cpu {

// Each id with seen[id] != 0: its logit divided by `penalty` if positive, multiplied if negative.
// `seen` (logits.size()) is not read when penalty is 1.
void apply_repetition_penalty(std::vector<float>& logits, const int32_t* seen, float penalty);
void apply_temperature(std::vector<float>& logits, float temperature);
void apply_top_k(std::vector<float>& logits, int k);        // keeps ties at the k-th value
void apply_top_p(std::vector<float>& logits, float top_p);  // smallest set with mass >= top_p
void apply_min_p(std::vector<float>& logits, float min_p);  // p >= min_p * p_max
int32_t argmax(const std::vector<float>& logits);
// softmax in double; -inf logits get probability 0.
std::vector<double> probabilities(const std::vector<float>& logits);
// Inverse CDF in token-id order: the first id whose cumulative probability exceeds u in [0, 1).
int32_t draw(const std::vector<float>& logits, double u);

// The whole pipeline on `logits` (consumed): penalty, then argmax when temperature is 0 (u
// unused), else temperature, top-k, top-p, min-p and draw(u).
int32_t sample_logits(std::vector<float>& logits, const int32_t* seen, double u,
                      const SampleOptions& options);

}  // namespace ferris::cpu
