// Copy kernels: one templated element-wise kernel (source type, destination type) that walks a
// strided layout or a contiguous range. Same-dtype copies move raw 2/4/8-byte words, so ints
// and floats share them; float conversions round to nearest even like the CPU.
#include <type_traits>

#include "backends/cuda/check.h"
#include "backends/cuda/copy.cuh"
#include "backends/cuda/device_util.cuh"

namespace ferris::cuda {

namespace {

template <typename S, typename D>
__device__ __forceinline__ D convert_one(S v) {
    if constexpr (std::is_same_v<S, D>) {
        return v;
    } else {
        return from_float<D>(to_float(v));
    }
}

// contiguous: element i is at i on both sides; otherwise decompose i over the layout.
template <typename S, typename D>
__global__ void copy_kernel(D* __restrict__ dst, const S* __restrict__ src, CopyLayout layout,
                            int64_t n, bool contiguous) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        if (contiguous) {
            dst[i] = convert_one<S, D>(src[i]);
            continue;
        }
        int64_t rem = i, so = 0, dof = 0;
        for (int d = layout.dims - 1; d >= 0; --d) {
            const int64_t idx = rem % layout.shape[d];
            rem /= layout.shape[d];
            so += idx * layout.src_stride[d];
            dof += idx * layout.dst_stride[d];
        }
        dst[dof] = convert_one<S, D>(src[so]);
    }
}

template <typename S, typename D>
void launch(void* dst, const void* src, const CopyLayout& layout, int64_t n, bool contiguous,
            cudaStream_t stream) {
    constexpr int kThreads = 256;
    copy_kernel<S, D><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
        static_cast<D*>(dst), static_cast<const S*>(src), layout, n, contiguous);
    FERRIS_CUDA_LAUNCH_CHECK("copy_kernel");
}

template <typename S>
void launch_from(void* dst, DType dd, const void* src, const CopyLayout& layout, int64_t n,
                 bool contiguous, cudaStream_t stream) {
    switch (dd) {
        case DType::F32:
            return launch<S, float>(dst, src, layout, n, contiguous, stream);
        case DType::F16:
            return launch<S, __half>(dst, src, layout, n, contiguous, stream);
        default:
            return launch<S, __nv_bfloat16>(dst, src, layout, n, contiguous, stream);
    }
}

void dispatch(void* dst, DType dd, const void* src, DType sd, const CopyLayout& layout, int64_t n,
              bool contiguous, cudaStream_t stream) {
    if (n <= 0) return;
    if (dd == sd) {  // raw words: one kernel per element size serves every dtype
        switch (dtype_size(dd)) {
            case 2:
                return launch<uint16_t, uint16_t>(dst, src, layout, n, contiguous, stream);
            case 4:
                return launch<uint32_t, uint32_t>(dst, src, layout, n, contiguous, stream);
            default:
                return launch<uint64_t, uint64_t>(dst, src, layout, n, contiguous, stream);
        }
    }
    if (!is_float(dd) || !is_float(sd))
        fail(ErrorCode::DTypeMismatch, "[copy] cuda: ", dtype_name(sd), " -> ", dtype_name(dd));
    switch (sd) {
        case DType::F32:
            return launch_from<float>(dst, dd, src, layout, n, contiguous, stream);
        case DType::F16:
            return launch_from<__half>(dst, dd, src, layout, n, contiguous, stream);
        default:
            return launch_from<__nv_bfloat16>(dst, dd, src, layout, n, contiguous, stream);
    }
}

}  // namespace

void copy_strided(void* dst, DType dst_dtype, const void* src, DType src_dtype,
                  const CopyLayout& layout, int64_t numel, cudaStream_t stream) {
    dispatch(dst, dst_dtype, src, src_dtype, layout, numel, false, stream);
}

void convert_contiguous(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n,
                        cudaStream_t stream) {
    dispatch(dst, dst_dtype, src, src_dtype, CopyLayout{}, n, true, stream);
}

}  // namespace ferris::cuda
