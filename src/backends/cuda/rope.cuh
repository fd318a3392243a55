// Rotary embedding launcher (HF rotate_half), in place on x (N, H, HS) f32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// inv_freq (HS/2) f32 on the device, computed on the host exactly as the CPU backend does
// (1 / theta^(2i/HS) in f32), so the f32 angles pos * inv_freq[i] are bit-identical to the CPU's.
void rope(float* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t h,
          int64_t hs, cudaStream_t stream);
// Decode's fused tail of the q/k/v projection: qkv (N, (NH + 2 NKV) HS) f32. q_out (N, NH, HS)
// = rope(q part); the caches' rows at positions[n] (element p * k_seq, resp. p * v_seq; batch 1)
// get rope(k part) and the v part, in cache_dtype.
void rope_qkv(float* q_out, void* k_cache, void* v_cache, DType cache_dtype, int64_t k_seq,
              int64_t v_seq, const float* qkv, const int32_t* positions, const float* inv_freq,
              int64_t n, int64_t nh, int64_t nkv, int64_t hs, cudaStream_t stream);

}  // namespace ferris::cuda
