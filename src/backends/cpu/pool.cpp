// CPU sentence pooling: per packed sequence, the mean / first row / max of its rows in f32 (the
// mean sums rows in order, as torch does over the sequence), then optional L2 normalization.
#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::pool(Tensor& out, const Tensor& x, const Tensor& segments, PoolMode mode,
                      bool normalize) {
    TraceScope trace("pool");
    if (x.dtype() != DType::F32) {
        pool(out, as_f32(x), segments, mode, normalize);
        return;
    }
    const int64_t n_seg = segments.size(0) - 1, c = x.size(1);
    const int32_t* seg = segments.data<int32_t>();
    const float* xp = x.data<float>();
    float* op = out.data<float>();
    const int64_t rows_per_seq = x.size(0) / std::max<int64_t>(1, n_seg);
    parallel_for(n_seg, min_grain_for(rows_per_seq * c), [&](int64_t s0, int64_t s1) {
        for (int64_t i = s0; i < s1; ++i) {
            const int64_t r0 = seg[i], r1 = seg[i + 1];
            float* o = op + i * c;
            std::copy(xp + r0 * c, xp + (r0 + 1) * c, o);
            if (mode == PoolMode::Max) {
                for (int64_t r = r0 + 1; r < r1; ++r)
                    for (int64_t k = 0; k < c; ++k) o[k] = std::max(o[k], xp[r * c + k]);
            } else if (mode == PoolMode::Mean) {
                for (int64_t r = r0 + 1; r < r1; ++r)
                    for (int64_t k = 0; k < c; ++k) o[k] += xp[r * c + k];
                const float inv = 1.0f / static_cast<float>(r1 - r0);
                for (int64_t k = 0; k < c; ++k) o[k] *= inv;
            }
            if (!normalize) continue;
            double squares = 0;
            for (int64_t k = 0; k < c; ++k) squares += static_cast<double>(o[k]) * o[k];
            const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(squares)), 1e-12f);
            for (int64_t k = 0; k < c; ++k) o[k] *= inv;
        }
    });
}

}  // namespace ferris::cpu
