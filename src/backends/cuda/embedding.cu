// Embedding kernel: one block per row (grid-stride over rows), threads over the hidden size.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/embedding.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

template <typename T>
__global__ void embedding_kernel(float* __restrict__ out, const T* __restrict__ table,
                                 const int32_t* __restrict__ ids, int64_t n, int64_t c) {
    pdl_begin();
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const T* row = table + static_cast<int64_t>(ids[r]) * c;
        float* o = out + r * c;
        for (int64_t i = threadIdx.x; i < c; i += blockDim.x) o[i] = to_float(row[i]);
    }
}

template <typename T>
void launch(float* out, const void* table, const int32_t* ids, int64_t n, int64_t c,
            cudaStream_t stream) {
    const int threads = c >= 256 ? 256 : 128;
    const unsigned blocks = static_cast<unsigned>(n < 65536 ? n : 65536);
    launch_dependent("embedding_kernel", embedding_kernel<T>, blocks, threads, 0, stream, out,
                     static_cast<const T*>(table), ids, n, c);
}

}  // namespace

void embedding(float* out, const void* table, DType table_dtype, const int32_t* ids, int64_t n,
               int64_t c, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return;
    switch (table_dtype) {
        case DType::F32:
            return launch<float>(out, table, ids, n, c, stream);
        case DType::F16:
            return launch<__half>(out, table, ids, n, c, stream);
        default:
            return launch<__nv_bfloat16>(out, table, ids, n, c, stream);
    }
}

}  // namespace ferris::cuda
