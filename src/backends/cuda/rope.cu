// Rope kernel: one block per row; cos/sin of the row's f32 angles go to shared memory once
// (accurate sincosf, never __sinf), then threads rotate the (i, i + HS/2) pairs of every head.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/rope.cuh"

namespace ferris::cuda {

namespace {

__global__ void rope_kernel(float* __restrict__ x, const int32_t* __restrict__ positions,
                            const float* __restrict__ inv_freq, int64_t h, int64_t hs) {
    extern __shared__ float cs[];  // cos (half), then sin (half)
    const int64_t half = hs / 2;
    float* sn = cs + half;
    const float pos = static_cast<float>(positions[blockIdx.x]);
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
        const float angle = pos * inv_freq[i];
        sincosf(angle, &sn[i], &cs[i]);
    }
    __syncthreads();
    float* row = x + blockIdx.x * h * hs;
    for (int64_t p = threadIdx.x; p < h * half; p += blockDim.x) {
        const int64_t j = p / half, i = p % half;
        float* v = row + j * hs;
        const float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = b * cs[i] + a * sn[i];
    }
}

}  // namespace

void rope(float* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t h,
          int64_t hs, cudaStream_t stream) {
    if (n <= 0 || h <= 0 || hs < 2) return;
    const size_t smem = static_cast<size_t>(hs / 2) * 2 * sizeof(float);
    rope_kernel<<<static_cast<unsigned>(n), 128, smem, stream>>>(x, positions, inv_freq, h, hs);
    FERRIS_CUDA_LAUNCH_CHECK("rope_kernel");
}

}  // namespace ferris::cuda
