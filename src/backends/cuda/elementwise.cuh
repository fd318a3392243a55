// Elementwise launchers on contiguous f32 buffers of n elements (out may alias an input).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// add and gelu: elements of dtype dt (f32, f16 or bf16), computed in f32.
void add(void* out, const void* a, const void* b, DType dt, float alpha, int64_t n,
         cudaStream_t stream);
// out = silu(gate) * up = gate / (1 + exp(-gate)) * up
void silu_mul(float* out, const float* gate, const float* up, int64_t n, cudaStream_t stream);
// out = x * 0.5 * (1 + erf(x / sqrt(2)))
void gelu(void* out, const void* x, DType dt, int64_t n, cudaStream_t stream);

}  // namespace ferris::cuda
