// Cross-entropy kernel: one block per row; max, then the sum of exp(x - max) in double exactly as
// the CPU computes it (a 150k vocabulary of f32 terms would otherwise lose ~1e-6 relative).
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/loss.cuh"

namespace ferris::cuda {

namespace {

constexpr int kThreads = 512;

__global__ void cross_entropy_kernel(float* __restrict__ out, const float* __restrict__ logits,
                                     const int32_t* __restrict__ targets, int64_t v) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    const float* row = logits + blockIdx.x * v;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) mx = fmaxf(mx, row[i]);
    mx = block_reduce<float, true>(mx, fscratch);
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x)
        s += exp(static_cast<double>(row[i] - mx));
    s = block_reduce(s, dscratch);
    if (threadIdx.x == 0)
        out[blockIdx.x] = static_cast<float>(log(s) + mx - row[targets[blockIdx.x]]);
}

}  // namespace

void cross_entropy(float* out, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                   cudaStream_t stream) {
    if (n <= 0) return;
    cross_entropy_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(out, logits, targets,
                                                                            v);
    FERRIS_CUDA_LAUNCH_CHECK("cross_entropy_kernel");
}

}  // namespace ferris::cuda
