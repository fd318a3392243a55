// Pooling kernel: one block per sequence; each thread owns columns c = tid, tid + blockDim, ...
// and walks the sequence's rows (coalesced across threads), then the block reduces the squared
// norm for normalization (x / max(||x||, 1e-12), as torch.nn.functional.normalize).
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/pool.cuh"

namespace ferris::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    pool_kernel(float* out, const T* x, const int32_t* segments, int64_t c, int mode,
                bool normalize) {
    __shared__ float scratch[32];
    const int64_t seg = blockIdx.x;
    const int64_t r0 = segments[seg], r1 = segments[seg + 1];
    float* o = out + seg * c;
    float squares = 0.0f;
    for (int64_t col = threadIdx.x; col < c; col += blockDim.x) {
        float v;
        if (mode == 1) {
            v = to_float(x[r0 * c + col]);
        } else if (mode == 2) {
            v = -INFINITY;
            for (int64_t r = r0; r < r1; ++r) v = fmaxf(v, to_float(x[r * c + col]));
        } else {
            v = 0.0f;
            for (int64_t r = r0; r < r1; ++r) v += to_float(x[r * c + col]);
            v /= static_cast<float>(r1 - r0);
        }
        o[col] = v;
        squares += v * v;
    }
    if (!normalize) return;
    const float total = block_reduce<float>(squares, scratch);
    const float inv = 1.0f / fmaxf(sqrtf(total), 1e-12f);
    for (int64_t col = threadIdx.x; col < c; col += blockDim.x) o[col] *= inv;
}

}  // namespace

void pool(float* out, const void* x, DType x_dtype, const int32_t* segments, int64_t n_segments,
          int64_t c, int mode, bool normalize, cudaStream_t stream) {
    if (n_segments == 0 || c == 0) return;
    const auto blocks = static_cast<unsigned>(n_segments);
    if (x_dtype == DType::F32)
        pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const float*>(x), segments, c,
                                                     mode, normalize);
    else if (x_dtype == DType::F16)
        pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const __half*>(x), segments,
                                                     c, mode, normalize);
    else
        pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const __nv_bfloat16*>(x),
                                                     segments, c, mode, normalize);
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace ferris::cuda
