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

// Half activations (a GPU model in bf16/f16): x (N, I) and out (N, O) in the weight's dtype dt,
// f32 accumulation; bias (O) contiguous in bias_dtype, or null: used as it is when in dt, else
// rounded into bias_scratch (O elements of dt) for the GEMM epilogue.
void linear_half(GemmContext& ctx, void* out, const void* x, const void* weight, DType dt,
                 const void* bias, DType bias_dtype, void* bias_scratch, int64_t n, int64_t in,
                 int64_t outs, cudaStream_t stream);

}  // namespace ferris::cuda
