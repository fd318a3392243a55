// write_rows: one block per (t, b) row, threads over the row's elements. argmax: see below.
#include <algorithm>

#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.cuh"
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

// argmax in two kernels: blocks of a row each reduce a slice to (value, first index), then one
// block per row reduces the slices' results. One block per row (152k logits) took ~55 us.
constexpr int kArgmaxThreads = 256;
constexpr int64_t kArgmaxPerThread = 16;
constexpr int64_t kArgmaxMaxParts = 64;

__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_parts_kernel(float* part_value, int32_t* part_index, const float* x, int64_t v,
                        int64_t per_part) {
    pdl_begin();
    const int64_t row = blockIdx.y, part = blockIdx.x, parts = gridDim.x;
    const float* xr = x + row * v;
    const int64_t begin = part * per_part, end = min(v, begin + per_part);
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int64_t i = begin + threadIdx.x; i < end; i += kArgmaxThreads)
        if (better(xr[i], static_cast<int>(i), bv, bi)) {
            bv = xr[i];
            bi = static_cast<int>(i);
        }
    block_best(bv, bi);
    if (threadIdx.x == 0) {
        part_value[row * parts + part] = bv;
        part_index[row * parts + part] = bi;
    }
}

__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_final_kernel(int32_t* out, const float* part_value, const int32_t* part_index,
                        int64_t parts) {
    pdl_begin();
    const int64_t row = blockIdx.x;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int64_t p = threadIdx.x; p < parts; p += kArgmaxThreads)
        if (better(part_value[row * parts + p], part_index[row * parts + p], bv, bi)) {
            bv = part_value[row * parts + p];
            bi = part_index[row * parts + p];
        }
    block_best(bv, bi);
    if (threadIdx.x == 0) out[row] = bi == INT_MAX ? 0 : bi;
}

int64_t argmax_parts(int64_t v) {
    return std::clamp<int64_t>(
        (v + kArgmaxThreads * kArgmaxPerThread - 1) / (kArgmaxThreads * kArgmaxPerThread), 1,
        kArgmaxMaxParts);
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

size_t argmax_scratch_bytes(int64_t n, int64_t v) {
    return static_cast<size_t>(n * argmax_parts(v)) * (sizeof(float) + sizeof(int32_t));
}

void argmax(int32_t* out, const float* x, int64_t n, int64_t v, void* scratch,
            cudaStream_t stream) {
    if (n == 0 || v == 0) return;
    const int64_t parts = argmax_parts(v), per_part = (v + parts - 1) / parts;
    auto* part_value = static_cast<float*>(scratch);
    auto* part_index = reinterpret_cast<int32_t*>(part_value + n * parts);
    launch_dependent("argmax_parts_kernel", argmax_parts_kernel,
                     dim3(static_cast<unsigned>(parts), static_cast<unsigned>(n)), kArgmaxThreads,
                     0, stream, part_value, part_index, x, v, per_part);
    launch_dependent("argmax_final_kernel", argmax_final_kernel, static_cast<unsigned>(n),
                     kArgmaxThreads, 0, stream, out, part_value, part_index, parts);
}

}  // namespace ferris::cuda
