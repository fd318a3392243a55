// CPU RMSNorm and LayerNorm in f32 (sums accumulate in double, as precise as torch's f32).
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) {
    const int64_t c = x.size(-1), n = x.numel() / c;
    const float* xp = x.data<float>();
    float* op = out.data<float>();
    const DType wd = weight.dtype();
    const void* wp = weight.raw();
    parallel_for(n, min_grain_for(2 * c), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = xp + r * c;
            double ss = 0;
            for (int64_t i = 0; i < c; ++i) ss += static_cast<double>(xr[i]) * xr[i];
            const float inv =
                static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(c) + eps));
            float* orow = op + r * c;
            for (int64_t i = 0; i < c; ++i) orow[i] = load_float(wp, wd, i) * (xr[i] * inv);
        }
    });
}

void CpuBackend::add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual,
                                const Tensor& weight, const Tensor& bias, float eps) {
    Tensor sum = empty(x.shape(), DType::F32);
    add(sum, as_f32(x), as_f32(residual), 1.0f);
    layer_norm(out, sum, weight, bias, eps);
}

void CpuBackend::layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                            float eps) {
    if (x.dtype() != DType::F32 || out.dtype() != DType::F32) {
        Tensor o = empty(out.shape(), DType::F32);
        layer_norm(o, as_f32(x), weight, bias, eps);
        copy(out, o);
        return;
    }
    const int64_t c = x.size(-1), n = x.numel() / c;
    const float* xp = x.data<float>();
    float* op = out.data<float>();
    const DType wd = weight.dtype(), bd = bias.dtype();
    const void* wp = weight.raw();
    const void* bp = bias.raw();
    parallel_for(n, min_grain_for(3 * c), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = xp + r * c;
            double sum = 0;
            for (int64_t i = 0; i < c; ++i) sum += xr[i];
            const double mean = sum / static_cast<double>(c);
            double var = 0;
            for (int64_t i = 0; i < c; ++i) var += (xr[i] - mean) * (xr[i] - mean);
            const float inv =
                static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(c) + eps));
            const float m = static_cast<float>(mean);
            float* orow = op + r * c;
            for (int64_t i = 0; i < c; ++i)
                orow[i] = (xr[i] - m) * inv * load_float(wp, wd, i) + load_float(bp, bd, i);
        }
    });
}

}  // namespace ferris::cpu
