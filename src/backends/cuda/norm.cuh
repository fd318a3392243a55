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
void layer_norm(float* out, const float* x, const void* weight, DType weight_dtype,
                const void* bias, DType bias_dtype, int64_t n, int64_t c, float eps,
                cudaStream_t stream);

}  // namespace ferris::cuda
