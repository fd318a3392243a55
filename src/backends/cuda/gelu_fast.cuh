// The exact (erf) GELU of a 16-bit value in ~15 instructions, for epilogues where the GELU's
// arithmetic and not its memory traffic is the cost (gemm_sm90a's fused FFN up-projection).
//   gelu(x) = x Phi(x) = max(x, -0) - |x| Q(|x|),  Q(a) = erfc(a / sqrt 2) / 2
//   Q(a) = 2^(P(min(a, A)) - a^2 / (2 ln 2))
// P is a polynomial fitted (weighted least squares toward minimax) to log2(Q(a) e^(a^2 / 2)) on
// [0, A]: A = 6, degree 10 for f16 inputs (fit error 3.7e-7 in log2); A = 12, degree 8 for bf16
// (1.0e-4, enough for its 8-bit significand). Past A the result rounds to x, or to -0, in T.
// Rounded to T it is within one unit in the last place of the exactly rounded GELU for every
// finite input, and equal to it for all but 11 of the 63,488 finite f16 values; PyTorch's f32
// formula 0.5 x (1 + erf(x / sqrt 2)) is itself off in ~370 of them (1 + erf cancels below zero).
// NaN stays NaN; -inf gives -0 where PyTorch gives NaN.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace ferris::cuda {

// x is a value of T (f16 or bf16) widened to f32; the result is to be rounded back to T.
template <typename T>
__device__ __forceinline__ float gelu_fast(float x) {
    const float b = fabsf(x);
    float p;
    if constexpr (std::is_same_v<T, __half>) {
        const float a = fminf(b, 6.0f);
        p = fmaf(-1.231675562e-08f, a, 4.146585582e-07f);
        p = fmaf(p, a, -5.938315098e-06f);
        p = fmaf(p, a, 4.527243073e-05f);
        p = fmaf(p, a, -1.642433199e-04f);
        p = fmaf(p, a, -2.607232309e-04f);
        p = fmaf(p, a, 7.299997844e-03f);
        p = fmaf(p, a, -5.271169171e-02f);
        p = fmaf(p, a, 2.622303069e-01f);
        p = fmaf(p, a, -1.151119351e+00f);
        p = fmaf(p, a, -9.999996424e-01f);
    } else {
        const float a = fminf(b, 12.0f);
        p = fmaf(3.698053419e-08f, a, -2.188726512e-06f);
        p = fmaf(p, a, 5.616515773e-05f);
        p = fmaf(p, a, -8.274610154e-04f);
        p = fmaf(p, a, 7.866530679e-03f);
        p = fmaf(p, a, -5.209520087e-02f);
        p = fmaf(p, a, 2.603850365e-01f);
        p = fmaf(p, a, -1.150006056e+00f);
        p = fmaf(p, a, -1.000099659e+00f);
    }
    // The Gaussian factor with the unclamped |x|, so that Q underflows to 0 far out.
    p = fmaf(b * -7.213475108e-01f, b, p);  // -a^2 / (2 ln 2)
    float q, h;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(q) : "f"(p));
    asm("max.NaN.f32 %0, %1, 0f80000000;" : "=f"(h) : "f"(x));  // max(x, -0), NaN kept
    return fmaf(-fminf(b, 12.0f), q, h);
}

}  // namespace ferris::cuda
