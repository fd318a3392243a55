// CPU RMSNorm and LayerNorm in f32 (sums accumulate in double, as precise as torch's f32).
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) {
    TraceScope trace("rms_norm");
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

// Double vectors for the row sums: kDLanes floats widened at a time.
#if defined(__AVX512F__)
constexpr int kDLanes = 8;
using VecD = __m512d;
inline VecD dzero() { return _mm512_setzero_pd(); }
inline VecD dset1(double v) { return _mm512_set1_pd(v); }
inline VecD dload(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline VecD dadd(VecD a, VecD b) { return _mm512_add_pd(a, b); }
inline VecD dsub(VecD a, VecD b) { return _mm512_sub_pd(a, b); }
inline VecD dfma(VecD a, VecD b, VecD c) { return _mm512_fmadd_pd(a, b, c); }
inline double dsum(VecD v) { return _mm512_reduce_add_pd(v); }
#else
constexpr int kDLanes = 4;
using VecD = __m256d;
inline VecD dzero() { return _mm256_setzero_pd(); }
inline VecD dset1(double v) { return _mm256_set1_pd(v); }
inline VecD dload(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
inline VecD dadd(VecD a, VecD b) { return _mm256_add_pd(a, b); }
inline VecD dsub(VecD a, VecD b) { return _mm256_sub_pd(a, b); }
inline VecD dfma(VecD a, VecD b, VecD c) { return _mm256_fmadd_pd(a, b, c); }
inline double dsum(VecD v) {
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
#endif

// A row's sum, and its sum of squared deviations from `mean`, accumulated in double.
double row_sum(const float* x, int64_t c) {
    VecD acc = dzero();
    int64_t i = 0;
    for (; i + kDLanes <= c; i += kDLanes) acc = dadd(acc, dload(x + i));
    double s = dsum(acc);
    for (; i < c; ++i) s += x[i];
    return s;
}
double row_deviation2(const float* x, int64_t c, double mean) {
    const VecD m = dset1(mean);
    VecD acc = dzero();
    int64_t i = 0;
    for (; i + kDLanes <= c; i += kDLanes) {
        const VecD d = dsub(dload(x + i), m);
        acc = dfma(d, d, acc);
    }
    double s = dsum(acc);
    for (; i < c; ++i) s += (x[i] - mean) * (x[i] - mean);
    return s;
}

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
    TraceScope trace("add_layer_norm");
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
    TraceScope trace("layer_norm");
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
