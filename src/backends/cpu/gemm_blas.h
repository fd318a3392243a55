// f32 products through OpenBLAS (single-threaded sgemm calls from the backend's own parallel
// loops), for the products gemm_f32 does not take: many rows of f32 weights. Half weights are
// converted to f32 whole for the call when x has at least as many rows as W (x is then cut into
// row chunks), else a block of W's output rows at a time.
#pragma once

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cpu {

// out (N, O) = x (N, I) @ w (O, I)^T in f32, x and out f32, w f32, bf16 or f16, all contiguous.
void gemm_blas(float* out, const float* x, const void* w, DType w_dtype, int64_t rows, int64_t in,
               int64_t outs);

}  // namespace ferris::cpu
