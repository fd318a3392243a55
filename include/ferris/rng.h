// Deterministic random numbers (xoshiro256** seeded through splitmix64). Only integer arithmetic
// and exact conversions, so a seed gives bit-identical streams on every machine and compiler —
// random-weight models and sampling runs are reproducible everywhere.
#pragma once

#include <cstdint>

namespace ferris {

class Rng {
public:
    explicit Rng(uint64_t seed = 0);
    uint64_t next_u64();
    // Uniform in [0, 1) with 24 random bits (exact in f32).
    float uniform();
    // Uniform in [lo, hi).
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
    // Uniform in [0, 1) with 53 random bits, for sampling thresholds.
    double uniform_double();

private:
    uint64_t s_[4];
};

}  // namespace ferris
