// write_rows: one block per (t, b) row, threads over the row's elements. argmax: one block per
// row; each thread scans a strided slice, then a shared-memory tree keeps (value, lowest index).
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/rows.cuh"

namespace ferris::cuda {

namespace {

template <typename T>
__global__ void write_rows_kernel(T* dst, int64_t dst_batch, int64_t dst_seq, const float* src,
                                  const int32_t* rows, int64_t t_n, int64_t row) {
    const int64_t t = blockIdx.x, b = blockIdx.y;
    const float* s = src + (b * t_n + t) * row;
    T* d = dst + b * dst_batch + static_cast<int64_t>(rows[t]) * dst_seq;
    for (int64_t i = threadIdx.x; i < row; i += blockDim.x) d[i] = from_float<T>(s[i]);
}

constexpr int kArgmaxThreads = 1024;

__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_kernel(int32_t* out, const float* x, int64_t v) {
    __shared__ float best_value[kArgmaxThreads];
    __shared__ int64_t best_index[kArgmaxThreads];
    const float* row = x + blockIdx.x * v;
    float bv = -INFINITY;
    int64_t bi = v;  // past the end: loses every comparison until a value is seen
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
        const float val = row[i];
        if (val > bv || bi == v) {
            bv = val;
            bi = i;
        }
    }
    best_value[threadIdx.x] = bv;
    best_index[threadIdx.x] = bi;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            const float ov = best_value[threadIdx.x + stride];
            const int64_t oi = best_index[threadIdx.x + stride];
            const float mv = best_value[threadIdx.x];
            const int64_t mi = best_index[threadIdx.x];
            if (oi != v && (mi == v || ov > mv || (ov == mv && oi < mi))) {
                best_value[threadIdx.x] = ov;
                best_index[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = static_cast<int32_t>(best_index[0]);
}

}  // namespace

void write_rows(void* dst, DType dst_dtype, int64_t dst_batch, int64_t dst_seq, const float* src,
                const int32_t* rows, int64_t b_n, int64_t t_n, int64_t row, cudaStream_t stream) {
    if (b_n == 0 || t_n == 0 || row == 0) return;
    const dim3 grid(static_cast<unsigned>(t_n), static_cast<unsigned>(b_n));
    const int threads = row >= 256 ? 256 : 128;
    switch (dst_dtype) {
        case DType::F32:
            write_rows_kernel<<<grid, threads, 0, stream>>>(static_cast<float*>(dst), dst_batch,
                                                            dst_seq, src, rows, t_n, row);
            break;
        case DType::F16:
            write_rows_kernel<<<grid, threads, 0, stream>>>(static_cast<__half*>(dst), dst_batch,
                                                            dst_seq, src, rows, t_n, row);
            break;
        default:
            write_rows_kernel<<<grid, threads, 0, stream>>>(
                static_cast<__nv_bfloat16*>(dst), dst_batch, dst_seq, src, rows, t_n, row);
            break;
    }
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

void argmax(int32_t* out, const float* x, int64_t n, int64_t v, cudaStream_t stream) {
    if (n == 0 || v == 0) return;
    argmax_kernel<<<static_cast<unsigned>(n), kArgmaxThreads, 0, stream>>>(out, x, v);
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace ferris::cuda
