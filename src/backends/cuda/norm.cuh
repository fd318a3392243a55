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

}  // namespace ferris::cuda
