// Pooling kernels, one block per sequence. 16-bit rows (C % 8 == 0, up to 1,024 wide): each warp
// takes every eighth row and 16-byte column chunks, the eight partial sums (or maxima) meet in
// shared memory; otherwise each thread owns columns c = tid, tid + blockDim, ... and walks all
// rows. Then the block reduces the squared norm for normalization (x / max(||x||, 1e-12), as
// torch.nn.functional.normalize).
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/pool.cuh"

namespace ferris::cuda {

namespace {

constexpr int kThreads = 256;

// o (C) /= max(||o||, 1e-12), each thread's squares given: the block's reduction (every thread
// of the block calls it).
__device__ __forceinline__ void scale_to_unit(float* o, int64_t c, float squares, float* scratch) {
    const float total = block_reduce<float>(squares, scratch);
    const float inv = 1.0f / fmaxf(sqrtf(total), 1e-12f);
    for (int64_t col = threadIdx.x; col < c; col += blockDim.x) o[col] *= inv;
}

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
    if (normalize) scale_to_unit(o, c, squares, scratch);
}

// The 16-bit path: warp w sums (or maxes) rows r0 + w, r0 + w + 8, ... over its lane's column
// chunks lane + 32 j, in registers; the partials of the eight warps are combined per column.
template <typename T, int kPer>
__global__ void __launch_bounds__(kThreads)
    pool_half_kernel(float* out, const T* x, const int32_t* segments, int c, int mode,
                     bool normalize) {
    constexpr int kWarps = kThreads / 32;
    __shared__ float partial[kWarps][kPer * 256];
    __shared__ float scratch[32];
    const int64_t seg = blockIdx.x;
    const int64_t r0 = segments[seg], r1 = segments[seg + 1];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, chunks = c / 8;
    float acc[kPer][8];
#pragma unroll
    for (int j = 0; j < kPer; ++j)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[j][e] = mode == 2 ? -INFINITY : 0.0f;
    const int64_t last = mode == 1 ? r0 + 1 : r1;  // CLS: the first row only
    for (int64_t r = r0 + warp; r < last; r += kWarps) {
#pragma unroll
        for (int j = 0; j < kPer; ++j) {
            const int ch = lane + 32 * j;
            if (ch >= chunks) continue;
            const uint4 u = *reinterpret_cast<const uint4*>(x + r * c + ch * 8);
            const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
            for (int i = 0; i < 8; ++i)
                acc[j][i] =
                    mode == 2 ? fmaxf(acc[j][i], to_float(e[i])) : acc[j][i] + to_float(e[i]);
        }
    }
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
        const int ch = lane + 32 * j;
        if (ch < chunks)
#pragma unroll
            for (int i = 0; i < 8; ++i) partial[warp][ch * 8 + i] = acc[j][i];
    }
    __syncthreads();
    float* o = out + seg * c;
    float squares = 0.0f;
    for (int col = threadIdx.x; col < c; col += blockDim.x) {
        float v = partial[0][col];
        for (int w = 1; w < kWarps; ++w)
            v = mode == 2 ? fmaxf(v, partial[w][col]) : v + partial[w][col];
        if (mode == 0) v /= static_cast<float>(r1 - r0);
        o[col] = v;
        squares += v * v;
    }
    if (normalize) scale_to_unit(o, c, squares, scratch);
}

template <typename T>
bool pool_half(float* out, const void* x, const int32_t* segments, int64_t n_segments, int64_t c,
               int mode, bool normalize, cudaStream_t stream) {
    if (c % 8 != 0 || c > 1024 || reinterpret_cast<uintptr_t>(x) % 16 != 0) return false;
    const auto blocks = static_cast<unsigned>(n_segments);
    const T* xt = static_cast<const T*>(x);
    const int ci = static_cast<int>(c);
    if (c <= 256)
        pool_half_kernel<T, 1>
            <<<blocks, kThreads, 0, stream>>>(out, xt, segments, ci, mode, normalize);
    else if (c <= 512)
        pool_half_kernel<T, 2>
            <<<blocks, kThreads, 0, stream>>>(out, xt, segments, ci, mode, normalize);
    else
        pool_half_kernel<T, 4>
            <<<blocks, kThreads, 0, stream>>>(out, xt, segments, ci, mode, normalize);
    return true;
}

}  // namespace

void pool(float* out, const void* x, DType x_dtype, const int32_t* segments, int64_t n_segments,
          int64_t c, int mode, bool normalize, cudaStream_t stream) {
    if (n_segments == 0 || c == 0) return;
    const auto blocks = static_cast<unsigned>(n_segments);
    if (x_dtype == DType::F32)
        pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const float*>(x), segments, c,
                                                     mode, normalize);
    else if (x_dtype == DType::F16) {
        if (!pool_half<__half>(out, x, segments, n_segments, c, mode, normalize, stream))
            pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const __half*>(x),
                                                         segments, c, mode, normalize);
    } else if (!pool_half<__nv_bfloat16>(out, x, segments, n_segments, c, mode, normalize,
                                         stream)) {
        pool_kernel<<<blocks, kThreads, 0, stream>>>(out, static_cast<const __nv_bfloat16*>(x),
                                                     segments, c, mode, normalize);
    }
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace ferris::cuda
