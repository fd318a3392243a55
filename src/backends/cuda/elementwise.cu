// Elementwise kernels: grid-stride loops with accurate expf/erff (no fast-math intrinsics), so
// results agree with the CPU to an ulp or two.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/elementwise.cuh"

namespace ferris::cuda {

namespace {

constexpr int kThreads = 256;

// No __restrict__ on out: add is called in place (out == a).
__global__ void add_kernel(float* out, const float* a, const float* b, float alpha, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = alpha == 1.0f ? a[i] + b[i] : a[i] + alpha * b[i];
}

__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

__global__ void gelu_kernel(float* out, const float* x, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

}  // namespace

void add(float* out, const float* a, const float* b, float alpha, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    add_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, a, b, alpha, n);
    FERRIS_CUDA_LAUNCH_CHECK("add_kernel");
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    silu_mul_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, gate, up, n);
    FERRIS_CUDA_LAUNCH_CHECK("silu_mul_kernel");
}

void gelu(float* out, const float* x, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    gelu_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, x, n);
    FERRIS_CUDA_LAUNCH_CHECK("gelu_kernel");
}

}  // namespace ferris::cuda
