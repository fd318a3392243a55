// Inputs the `sample` op tests share: logits of three shapes and a uniform draw as the op takes it.
#pragma once

#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "ferris/rng.h"

namespace ferris::testing {

// Spread (few ties), peaked (r^3 times `peak`, optionally one spike at v / 3) or on a coarse grid
// (a few values, many ties).
enum class LogitShape { Spread, Peaked, Tied };

inline std::vector<float> make_logits(int64_t v, LogitShape shape, Rng& rng, float peak = 10.0f,
                                      bool spike = false) {
    std::vector<float> l(static_cast<size_t>(v));
    for (float& x : l) {
        const float r = rng.uniform(-1.0f, 1.0f);
        x = shape == LogitShape::Spread   ? 3.0f * r
            : shape == LogitShape::Peaked ? peak * r * r * r
                                          : 0.5f * std::round(4.0f * r);
    }
    if (spike && shape == LogitShape::Peaked && v > 3) l[static_cast<size_t>(v / 3)] = 14.0f;
    return l;
}

// The op's uniform: u in [0, 1) as u * 2^53 in an i64 (the 53 bits of Rng::uniform_double).
inline Tensor uniform_tensor(double u) {
    Tensor t = Tensor::empty({1}, DType::I64);
    t.data<int64_t>()[0] = static_cast<int64_t>(u * kSampleUniformScale);
    return t;
}

}  // namespace ferris::testing
