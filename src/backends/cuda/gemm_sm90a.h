// A Hopper GEMM of our own for the encoders' FFN up-projection: y = gelu(x w^T + bias) in one
// kernel, so that the widest activation is written once instead of written, read and written
// again by a GELU pass. Built only when the CUDA architectures include 90 (sm_90a code,
// src/backends/cuda/sm90a/); elsewhere gemm_sm90a_fits() is false and callers take cuBLASLt.
// No CUDA headers here, so that tests can ask gemm_sm90a_fits which path a product takes.
#pragma once

#include <cstdint>

#include "ferris/dtype.h"

struct CUstream_st;

namespace ferris::cuda {

// Whether gemm_sm90a can run y (M, N) = x (M, K) @ w (N, K)^T + bias on the current device: a
// compute capability 9.0 GPU, a build with the sm_90a kernels, dt f16 or bf16, N a multiple of
// 256, K of 64, operands 16-byte aligned (bias 4-byte). FERRIS_CUDA_NO_SM90A_GEMM=1 says no.
bool gemm_sm90a_fits(DType dt, int64_t m, int64_t n, int64_t k, const void* y, const void* x,
                     const void* w, const void* bias);

// y (M, N) = [gelu](x @ w^T + bias), all in dt with f32 accumulation; bias (N) in dt or null.
// The product plus bias is rounded to dt before the GELU, as a Linear's output would be; the GELU
// is gelu_fast (gelu_fast.cuh). Only where gemm_sm90a_fits.
void gemm_sm90a(void* y, const void* x, const void* w, const void* bias, DType dt, bool gelu,
                int64_t m, int64_t n, int64_t k, CUstream_st* stream);

}  // namespace ferris::cuda
