// Decode-sized products (GEMV, gemv.cu): 1..4 rows of x against bf16/f16 weights in one kernel,
// with the epilogues decode fuses in (residual add, SwiGLU, rope and the KV cache write). Each
// function returns false, with nothing launched, where the GEMV does not apply: then the caller
// takes the GEMM path.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// The rope tail of decode's stacked q/k/v product. The weight holds (NH + 2 NKV) heads of HS rows
// (q, then k, then v). q_out (N, NH, HS) f32 gets rope(q); the caches' rows at positions[n]
// (batch 1: element p * k_seq, resp. p * v_seq) get rope(k) and v, in cache_dtype.
struct GemvRope {
    float* q_out = nullptr;
    void* k_cache = nullptr;
    void* v_cache = nullptr;
    DType cache_dtype = DType::F32;
    int64_t k_seq = 0, v_seq = 0;
    const int32_t* positions = nullptr;  // (N) i32 on the device
    const float* inv_freq = nullptr;     // (HS/2) f32, the rope op's frequencies
    int64_t nh = 0, nkv = 0, hs = 0;
};

// out (n, outs) = x W^T + bias; accumulate: out += x W^T + bias. Requirements: 1 <= n <= 4, W
// bf16/f16 and 16-byte aligned, in % 8 == 0, x 16-byte aligned. norm_weight (in) f32: x is
// RMS-normalized first (x / rms(x) * norm_weight, the rms_norm op) inside the same kernel.
bool gemv(float* out, const float* x, const void* weight, DType weight_dtype, const float* bias,
          int64_t n, int64_t in, int64_t outs, bool accumulate, cudaStream_t stream,
          const float* norm_weight = nullptr, float eps = 0.0f);
// out (n, outs) = silu(x Wg^T) * (x Wu^T), both weights read in one pass.
bool gemv_swiglu(float* out, const float* x, const void* w_gate, const void* w_up, DType dt,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream,
                 const float* norm_weight = nullptr, float eps = 0.0f);
// The stacked q/k/v product (plus bias) with rope and the cache writes of `rope` as its epilogue.
bool gemv_qkv_rope(const GemvRope& rope, const float* x, const void* weight, DType dt,
                   const float* bias, int64_t n, int64_t in, cudaStream_t stream,
                   const float* norm_weight = nullptr, float eps = 0.0f);

}  // namespace ferris::cuda
