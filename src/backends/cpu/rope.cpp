// CPU rotary position embedding, HF "rotate_half" layout: pairs (i, i + HS/2). The angles are
// computed in f32 exactly as transformers does (inv_freq = 1 / theta^(2i/HS), angle = pos *
// inv_freq, f32 cos/sin), so f32 results agree with HF to rounding.
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::rope(Tensor& x, const Tensor& positions, float theta) {
    TraceScope trace("rope");
    const int64_t n = x.size(0), h = x.size(1), hs = x.size(2), half = hs / 2;
    std::vector<float> inv_freq(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
        inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(hs));
    const int32_t* pos = positions.data<int32_t>();
    float* xp = x.data<float>();
    parallel_for(n, min_grain_for(h * hs * 3 + half * 40), [&](int64_t r0, int64_t r1) {
        std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
        for (int64_t r = r0; r < r1; ++r) {
            for (int64_t i = 0; i < half; ++i) {
                const float angle = static_cast<float>(pos[r]) * inv_freq[i];
                cs[i] = std::cos(angle);
                sn[i] = std::sin(angle);
            }
            for (int64_t j = 0; j < h; ++j) {
                float* v = xp + (r * h + j) * hs;
                for (int64_t i = 0; i < half; ++i) {
                    const float a = v[i], b = v[i + half];
                    v[i] = a * cs[i] - b * sn[i];
                    v[i + half] = b * cs[i] + a * sn[i];
                }
            }
        }
    });
}

}  // namespace ferris::cpu
