// Small SIMD helpers for the CPU kernels: load 16 (AVX-512) or 8 (AVX2) floats from f32, f16 or
// bf16 memory. Chosen at compile time from the target flags (FERRIS_NATIVE or the AVX2 baseline).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cpu {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using VecF = __m512;
inline VecF vzero() { return _mm512_setzero_ps(); }
inline VecF vset1(float v) { return _mm512_set1_ps(v); }
inline VecF vload(const float* p) { return _mm512_loadu_ps(p); }
inline VecF vload(const uint16_t* p, DType dt) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if (dt == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline void vstore(float* p, VecF v) { _mm512_storeu_ps(p, v); }
inline VecF vfma(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a, b, c); }
inline VecF vmul(VecF a, VecF b) { return _mm512_mul_ps(a, b); }
inline VecF vadd(VecF a, VecF b) { return _mm512_add_ps(a, b); }
inline VecF vsub(VecF a, VecF b) { return _mm512_sub_ps(a, b); }
inline VecF vdiv(VecF a, VecF b) { return _mm512_div_ps(a, b); }
inline float vsum(VecF v) { return _mm512_reduce_add_ps(v); }
#else
constexpr int kLanes = 8;
using VecF = __m256;
inline VecF vzero() { return _mm256_setzero_ps(); }
inline VecF vset1(float v) { return _mm256_set1_ps(v); }
inline VecF vload(const float* p) { return _mm256_loadu_ps(p); }
inline VecF vload(const uint16_t* p, DType dt) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (dt == DType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline void vstore(float* p, VecF v) { _mm256_storeu_ps(p, v); }
inline VecF vfma(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a, b, c); }
inline VecF vmul(VecF a, VecF b) { return _mm256_mul_ps(a, b); }
inline VecF vadd(VecF a, VecF b) { return _mm256_add_ps(a, b); }
inline VecF vsub(VecF a, VecF b) { return _mm256_sub_ps(a, b); }
inline VecF vdiv(VecF a, VecF b) { return _mm256_div_ps(a, b); }
inline float vsum(VecF v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    return _mm_cvtss_f32(s);
}
#endif

// exp(x) for a vector: range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial
// (Cephes expf coefficients); about 1 ulp on the float range, inf/0 at the ends like expf.
inline VecF vexp(VecF x) {
    const VecF hi = vset1(88.3762626647949f), lo = vset1(-87.3365447505531f);
#if defined(__AVX512F__)
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    VecF n = _mm512_roundscale_ps(vmul(x, vset1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
#else
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    VecF n = _mm256_round_ps(vmul(x, vset1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
#endif
    VecF r = vfma(n, vset1(-0.693359375f), x);
    r = vfma(n, vset1(2.12194440e-4f), r);
    VecF p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
#if defined(__AVX512F__)
    return _mm512_scalef_ps(p, n);
#else
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
#endif
}

// dot(x[0..n), w[0..n)) with x f32 and w in dtype dt.
inline float dot_f32(const float* x, const void* w, DType dt, int64_t n) {
    VecF acc0 = vzero(), acc1 = vzero();
    int64_t i = 0;
    if (dt == DType::F32) {
        const float* wf = static_cast<const float*>(w);
        for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
            acc0 = vfma(vload(x + i), vload(wf + i), acc0);
            acc1 = vfma(vload(x + i + kLanes), vload(wf + i + kLanes), acc1);
        }
        for (; i + kLanes <= n; i += kLanes) acc0 = vfma(vload(x + i), vload(wf + i), acc0);
    } else {
        const uint16_t* wh = static_cast<const uint16_t*>(w);
        for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
            acc0 = vfma(vload(x + i), vload(wh + i, dt), acc0);
            acc1 = vfma(vload(x + i + kLanes), vload(wh + i + kLanes, dt), acc1);
        }
        for (; i + kLanes <= n; i += kLanes) acc0 = vfma(vload(x + i), vload(wh + i, dt), acc0);
    }
    float s = vsum(vadd(acc0, acc1));
    for (; i < n; ++i) s += x[i] * load_float(w, dt, i);
    return s;
}

}  // namespace ferris::cpu
