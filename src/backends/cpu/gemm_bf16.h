// bf16 matrix products on CPUs with AVX512-BF16 (Zen 4, Sapphire Rapids and later): activations
// are rounded to bf16 once (what a bf16 model computes in transformers and llama.cpp too) and
// multiplied with vdpbf16ps, two products per lane per instruction, accumulating in f32.
#pragma once

#include <cstdint>

namespace ferris::cpu {

// True when this build has the AVX512-BF16 kernels (compile-time target flags).
bool have_bf16_gemm();

// out (N, O) f32 = x (N, I) f32 @ w (O, I)^T, w in bf16. Threads over output tiles.
void gemm_bf16(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
               int64_t outs);

}  // namespace ferris::cpu
