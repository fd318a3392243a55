// f32 products, both operands read in place (bf16 / f16 weights converted as they are loaded).
// OpenBLAS packs both operands on every call, which at a dozen rows (a query's tokens) costs about
// as much as the arithmetic: 14 x 384 -> 1,536 ran at ~80 GFLOP/s on two Zen 4 threads against
// ~155 at 128 rows. bench_ops, AVX-512 build, 2 Zen 4 threads, 384 -> 1,536: 14 rows 91 against
// 206 us, 256 rows 1.3-1.4 against 1.9 ms, 512 rows 3.1 against 3.7 ms; even at 1,024 rows; at
// 7,490 OpenBLAS is faster on 1,536 -> 384 (1.3x). Where OpenBLAS has no AVX2 kernels for the CPU
// (a model it does not know gets "Prescott", unless Ferris named its core: blas.cpp), these take
// every product: 3x OpenBLAS's Prescott kernels at 7,490 rows.
#pragma once

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cpu {

// Whether gemm_f32 takes a product of this many rows (more than the matrix-vector kernel's),
// rather than gemm_blas: up to 512 rows of f32 weights with AVX-512, 24 with AVX2 only; half
// weights up to 48 rows, or on AMD any number with AVX-512 and 128 with AVX2 only; any number
// where OpenBLAS lacks AVX2 kernels.
// FERRIS_CPU_GEMM_F32_ROWS=n sets the limit instead (0: OpenBLAS always; for measurements).
bool gemm_f32_takes(int64_t rows, DType w_dtype);

// out (N, O) = x (N, I) @ w (O, I)^T in f32, x and out f32, w f32, bf16 or f16 (converted as it
// is loaded: no f32 copy of the weights), all contiguous. Threads over weight rows.
void gemm_f32(float* out, const float* x, const void* w, DType w_dtype, int64_t rows, int64_t in,
              int64_t outs);

}  // namespace ferris::cpu
