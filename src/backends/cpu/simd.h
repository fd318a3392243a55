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
// The lane sums of a, b, c and d into out[0..3], sharing the shuffles.
inline void vsum4(VecF a, VecF b, VecF c, VecF d, float* out) {
    // Per 128-bit lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], then [a, b, c, d] partial sums.
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                      _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 s8 =
        _mm256_add_ps(_mm512_castps512_ps256(abcd),
                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)));
}
// The masked forms with every lane set: the plain ones fill with _mm512_undefined_ps, which GCC 12
// reports as used uninitialized once inlined into some callers.
inline VecF vmin(VecF a, VecF b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }
inline VecF vmax(VecF a, VecF b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline float vhmax(VecF v) { return _mm512_reduce_max_ps(v); }
inline VecF vabs(VecF x) { return _mm512_abs_ps(x); }
// The magnitude of `mag` (non-negative) with the sign of `sign`.
inline VecF vwith_sign(VecF mag, VecF sign) {
    const __m512i bit = _mm512_set1_epi32(INT32_MIN);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag),
                                               _mm512_and_si512(_mm512_castps_si512(sign), bit)));
}
// a <= b ? yes : no, lane by lane.
inline VecF vselect_le(VecF a, VecF b, VecF yes, VecF no) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), no, yes);
}
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
inline void vsum4(VecF a, VecF b, VecF c, VecF d, float* out) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
inline VecF vmin(VecF a, VecF b) { return _mm256_min_ps(a, b); }
inline VecF vmax(VecF a, VecF b) { return _mm256_max_ps(a, b); }
inline float vhmax(VecF v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}
inline VecF vabs(VecF x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
inline VecF vwith_sign(VecF mag, VecF sign) {
    return _mm256_or_ps(mag, _mm256_and_ps(sign, _mm256_set1_ps(-0.0f)));
}
inline VecF vselect_le(VecF a, VecF b, VecF yes, VecF no) {
    return _mm256_blendv_ps(no, yes, _mm256_cmp_ps(a, b, _CMP_LE_OQ));
}
#endif

// exp(x) for a vector: range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial
// (Cephes expf coefficients); about 1 ulp on the float range, inf/0 at the ends like expf.
inline VecF vexp(VecF x) {
    const VecF hi = vset1(88.3762626647949f), lo = vset1(-87.3365447505531f);
#if defined(__AVX512F__)
    x = _mm512_mask_min_ps(x, 0xFFFF, _mm512_mask_max_ps(x, 0xFFFF, x, lo), hi);
    const VecF scaled = vmul(x, vset1(1.44269504088896341f));
    VecF n = _mm512_mask_roundscale_ps(scaled, 0xFFFF, scaled, _MM_FROUND_TO_NEAREST_INT);
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
    return _mm512_mask_scalef_ps(p, 0xFFFF, p, n);
#else
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
#endif
}

// erf(x) for a vector, within 1.5e-7 of std::erf everywhere (the GELU's 1 + erf cannot hold more
// in f32). |x| <= 1: x P(2 x^2 - 1), degree 6; 1 < |x| < 4: 1 - exp(-x^2) G((|x| - 2.5) / 1.5),
// G a degree-12 fit of erfc(u) exp(u^2), whose relative error of ~1e-7 costs erf under 2e-8;
// past 4, +-1 (erfc(4) rounds away). Both fits are Chebyshev interpolants on 64 nodes, in
// monomial form for Horner's rule; tests/backend_ops/test_cpu_ops.cpp checks a dense sweep.
inline VecF verf(VecF x) {
    const VecF u = vabs(x);
    VecF p = vset1(1.231640173e-06f);
    const VecF z = vfma(vmul(u, u), vset1(2.0f), vset1(-1.0f));
    for (float c : {-1.766908081e-05f, 2.175119898e-04f, -2.285419529e-03f, 1.985249772e-02f,
                    -1.405360973e-01f, 9.654687386e-01f})
        p = vfma(p, z, vset1(c));
    const VecF small = vmul(u, p);
    const VecF uc = vmin(u, vset1(4.0f));
    const VecF t = vfma(uc, vset1(1.0f / 1.5f), vset1(-2.5f / 1.5f));
    VecF q = vset1(1.381908907e-05f);
    for (float c : {-3.692872346e-05f, 5.494724799e-05f, -1.439485982e-04f, 4.145080981e-04f,
                    -1.017117774e-03f, 2.401701695e-03f, -5.567332910e-03f, 1.248970367e-02f,
                    -2.700572529e-02f, 5.611047258e-02f, -1.115210047e-01f, 2.108063643e-01f})
        q = vfma(q, t, vset1(c));
    const VecF erfc = vmul(vexp(vmul(vsub(vzero(), uc), uc)), q);
    const VecF large = vsub(vset1(1.0f), erfc);
    return vwith_sign(vselect_le(u, vset1(1.0f), small, large), x);
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
