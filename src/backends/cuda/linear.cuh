// Linear launcher: out (N, O) f32 = x (N, I) f32 @ W (O, I)^T + bias, through cuBLASLt. The
// GemmContext holds the cuBLASLt and cuBLAS handles, the workspace and the algorithm cache.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

struct GemmContext;

// Handles bound to `stream` on the current device, with a workspace of workspace_bytes.
GemmContext* create_gemm_context(cudaStream_t stream, size_t workspace_bytes);
void destroy_gemm_context(GemmContext* ctx);

// W f32: plain f32 GEMM (CUBLAS_COMPUTE_32F, never TF32). W bf16/f16: x is rounded to W's dtype
// into x_scratch (N * I elements of that dtype) and the GEMM runs on tensor cores with f32
// accumulation and f32 output. bias: (O) f32 or null, added in the GEMM epilogue.
void linear(GemmContext& ctx, float* out, const float* x, const void* weight, DType weight_dtype,
            const float* bias, int64_t n, int64_t in, int64_t outs, void* x_scratch,
            cudaStream_t stream);

// Decode-sized products (1..4 rows, bf16/f16 weights, 16-byte aligned, I % 8 == 0) in one GEMV
// kernel; false, with nothing launched, where it does not apply. accumulate: out += x W^T + b.
bool gemv(float* out, const float* x, const void* weight, DType weight_dtype, const float* bias,
          int64_t n, int64_t in, int64_t outs, bool accumulate, cudaStream_t stream);
// out (n, outs) = silu(x Wg^T) * (x Wu^T) in one pass over both weights; false where the GEMV
// path does not apply.
bool gemv_swiglu(float* out, const float* x, const void* w_gate, const void* w_up, DType dt,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream);

}  // namespace ferris::cuda
