// Token sampling on host logits with Hugging Face semantics and order: repetition penalty, then
// temperature, top-k, top-p, min-p; temperature 0 is greedy (argmax after the penalty, first index
// on ties). A thin host wrapper: the math is the CPU backend's (backends/cpu/sampling.h), the same
// functions its `sample` op runs, so host and device decoding draw the same tokens from a seed.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/cpu/sampling.h"
#include "ferris/rng.h"

namespace ferris::runtime {

// The op's options plus the seed of the uniform stream (one uniform_double per sampled token;
// none when temperature is 0).
struct SamplingParams : SampleOptions {
    uint64_t seed = 0;

    void validate() const;  // throws InvalidArgument with the option's name
};

using cpu::apply_min_p;
using cpu::apply_temperature;
using cpu::apply_top_k;
using cpu::apply_top_p;
using cpu::argmax;
// Each distinct previous token's logit: divided by `penalty` if positive, multiplied if negative.
void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& previous,
                              float penalty);
// (V) i32: 1 at each id of `ids` inside the vocabulary, else 0 (the `sample` op's `seen`).
std::vector<int32_t> seen_mask(const std::vector<int32_t>& ids, size_t vocab);

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
