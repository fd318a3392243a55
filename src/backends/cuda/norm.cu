// Norm kernels: one block per row, f32 partial sums per thread reduced over the block; LayerNorm
// takes two passes (mean, then centred variance) like the CPU, so an offset mean costs nothing in
// precision. Weights are read in their stored dtype (a uniform runtime branch).
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/norm.cuh"

namespace ferris::cuda {

namespace {

__global__ void rms_norm_kernel(float* __restrict__ out, const float* __restrict__ x,
                                const void* __restrict__ weight, DType wd, int64_t c, float eps) {
    __shared__ float scratch[32];
    const float* xr = x + blockIdx.x * c;
    float* orow = out + blockIdx.x * c;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = block_reduce(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(c) + eps);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
        orow[i] = load_any(weight, wd, i) * (xr[i] * inv);
}

__global__ void layer_norm_kernel(float* __restrict__ out, const float* __restrict__ x,
                                  const void* __restrict__ weight, DType wd,
                                  const void* __restrict__ bias, DType bd, int64_t c, float eps) {
    __shared__ float scratch[32];
    const float* xr = x + blockIdx.x * c;
    float* orow = out + blockIdx.x * c;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) sum += xr[i];
    const float mean = block_reduce(sum, scratch) / static_cast<float>(c);
    float var = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
        const float d = xr[i] - mean;
        var = fmaf(d, d, var);
    }
    var = block_reduce(var, scratch);
    const float inv = 1.0f / sqrtf(var / static_cast<float>(c) + eps);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
        orow[i] = (xr[i] - mean) * inv * load_any(weight, wd, i) + load_any(bias, bd, i);
}

int threads_for(int64_t c) { return c <= 256 ? 64 : c <= 1024 ? 128 : c <= 4096 ? 256 : 512; }

}  // namespace

void rms_norm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n,
              int64_t c, float eps, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return;
    rms_norm_kernel<<<static_cast<unsigned>(n), threads_for(c), 0, stream>>>(out, x, weight,
                                                                             weight_dtype, c, eps);
    FERRIS_CUDA_LAUNCH_CHECK("rms_norm_kernel");
}

void layer_norm(float* out, const float* x, const void* weight, DType weight_dtype,
                const void* bias, DType bias_dtype, int64_t n, int64_t c, float eps,
                cudaStream_t stream) {
    if (n <= 0 || c <= 0) return;
    layer_norm_kernel<<<static_cast<unsigned>(n), threads_for(c), 0, stream>>>(
        out, x, weight, weight_dtype, bias, bias_dtype, c, eps);
    FERRIS_CUDA_LAUNCH_CHECK("layer_norm_kernel");
}

}  // namespace ferris::cuda
