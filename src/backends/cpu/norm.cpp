// CPU RMSNorm and LayerNorm in f32 (sums accumulate in double, as precise as torch's f32).
#include <cmath>
#include <vector>

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

namespace {

// A row's sum, and its sum of squared deviations from `mean`, accumulated in double.
#if defined(__AVX512F__)
double row_sum(const float* x, int64_t c) {
    __m512d acc = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
    double s = _mm512_reduce_add_pd(acc);
    for (; i < c; ++i) s += x[i];
    return s;
}
double row_deviation2(const float* x, int64_t c, double mean) {
    const __m512d m = _mm512_set1_pd(mean);
    __m512d acc = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) {
        const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), m);
        acc = _mm512_fmadd_pd(d, d, acc);
    }
    double s = _mm512_reduce_add_pd(acc);
    for (; i < c; ++i) s += (x[i] - mean) * (x[i] - mean);
    return s;
}
#else
double reduce(__m256d v) {
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
double row_sum(const float* x, int64_t c) {
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= c; i += 4) acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    double s = reduce(acc);
    for (; i < c; ++i) s += x[i];
    return s;
}
double row_deviation2(const float* x, int64_t c, double mean) {
    const __m256d m = _mm256_set1_pd(mean);
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= c; i += 4) {
        const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        acc = _mm256_fmadd_pd(d, d, acc);
    }
    double s = reduce(acc);
    for (; i < c; ++i) s += (x[i] - mean) * (x[i] - mean);
    return s;
}
#endif

// out = LayerNorm(x [+ residual]) over rows of c, all f32; the sum goes into out's row first.
void layer_norm_rows(float* out, const float* x, const float* residual, const Tensor& weight,
                     const Tensor& bias, int64_t n, int64_t c, float eps) {
    std::vector<float> w(static_cast<size_t>(c)), b(static_cast<size_t>(c));
    convert_floats(weight.raw(), weight.dtype(), w.data(), DType::F32, w.size());
    convert_floats(bias.raw(), bias.dtype(), b.data(), DType::F32, b.size());
    parallel_for(n, min_grain_for(4 * c), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * c;
            float* orow = out + r * c;
            if (residual) {
                const float* rr = residual + r * c;
                int64_t i = 0;
                for (; i + kLanes <= c; i += kLanes)
                    vstore(orow + i, vadd(vload(xr + i), vload(rr + i)));
                for (; i < c; ++i) orow[i] = xr[i] + rr[i];
                xr = orow;
            }
            const double mean = row_sum(xr, c) / static_cast<double>(c);
            const double var = row_deviation2(xr, c, mean) / static_cast<double>(c);
            const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
            const float m = static_cast<float>(mean);
            const VecF inv_v = vset1(inv), m_v = vset1(m);
            int64_t i = 0;
            for (; i + kLanes <= c; i += kLanes)
                vstore(orow + i, vfma(vmul(vsub(vload(xr + i), m_v), inv_v), vload(w.data() + i),
                                      vload(b.data() + i)));
            for (; i < c; ++i) orow[i] = std::fma((xr[i] - m) * inv, w[i], b[i]);
        }
    });
}

}  // namespace

void CpuBackend::add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual,
                                const Tensor& weight, const Tensor& bias, float eps) {
    if (out.dtype() != DType::F32) {
        Tensor o = empty(out.shape(), DType::F32);
        add_layer_norm(o, x, residual, weight, bias, eps);
        copy(out, o);
        return;
    }
    const Tensor xf = as_f32(x), rf = as_f32(residual);
    const int64_t c = x.size(-1);
    layer_norm_rows(out.data<float>(), xf.data<float>(), rf.data<float>(), weight, bias,
                    x.numel() / c, c, eps);
}

void CpuBackend::layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                            float eps) {
    if (x.dtype() != DType::F32 || out.dtype() != DType::F32) {
        Tensor o = empty(out.shape(), DType::F32);
        layer_norm(o, as_f32(x), weight, bias, eps);
        copy(out, o);
        return;
    }
    const int64_t c = x.size(-1);
    layer_norm_rows(out.data<float>(), x.data<float>(), nullptr, weight, bias, x.numel() / c, c,
                    eps);
}

}  // namespace ferris::cpu
