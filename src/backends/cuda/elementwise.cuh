// Elementwise launchers on contiguous f32 buffers of n elements (out may alias an input).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ferris::cuda {

void add(float* out, const float* a, const float* b, float alpha, int64_t n, cudaStream_t stream);
// out = silu(gate) * up = gate / (1 + exp(-gate)) * up
void silu_mul(float* out, const float* gate, const float* up, int64_t n, cudaStream_t stream);
// out = x * 0.5 * (1 + erf(x / sqrt(2)))
void gelu(float* out, const float* x, int64_t n, cudaStream_t stream);

}  // namespace ferris::cuda
