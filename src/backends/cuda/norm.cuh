// RMSNorm and LayerNorm launchers: x, out (N, C) f32; weight/bias (C) in any float dtype.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// out = x / sqrt(mean(x^2) + eps) * weight
void rms_norm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n,
              int64_t c, float eps, cudaStream_t stream);
// out = (x - mean) / sqrt(var + eps) * weight + bias (biased variance)
// out = layer_norm(x + residual), all three (N, C) in `dtype`, in one pass; false (nothing
// launched) where the one-warp-per-row kernel does not apply (C > 1024 or C % 4 != 0).
bool add_layer_norm(void* out, const void* x, const void* residual, DType dtype, const void* weight,
                    DType weight_dtype, const void* bias, DType bias_dtype, int64_t n, int64_t c,
                    float eps, cudaStream_t stream);
// x and out: f32, f16 or bf16 each (statistics in f32).
void layer_norm(void* out, DType out_dtype, const void* x, DType x_dtype, const void* weight,
                DType weight_dtype, const void* bias, DType bias_dtype, int64_t n, int64_t c,
                float eps, cudaStream_t stream);

// Up to three embedding lookups summed: tables[t] (V_t, C) row ids[t][r] for row r (device ids).
struct EmbeddingRows {
    static constexpr int kMax = 3;
    const void* tables[kMax] = {};
    const int32_t* ids[kMax] = {};
    int count = 0;
};
// out (N, C) in out_dtype = layer_norm(sum of the lookups, in f32), one warp a row, the same
// values as embedding + add + layer_norm; tables all of table_dtype. false (nothing launched)
// where it does not apply (C > 1024, C % 4 != 0, a table not aligned for 4-value loads).
bool embedding_layer_norm(void* out, DType out_dtype, const EmbeddingRows& rows, DType table_dtype,
                          const void* weight, DType weight_dtype, const void* bias,
                          DType bias_dtype, int64_t n, int64_t c, float eps, cudaStream_t stream);

}  // namespace ferris::cuda
