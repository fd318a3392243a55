// Elementwise kernels: grid-stride loops with accurate expf/erff (no fast-math intrinsics), so
// results agree with the CPU to an ulp or two.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/elementwise.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

constexpr int kThreads = 256;

// No __restrict__ on out: add is called in place (out == a). Half precision is computed in f32.
template <typename T>
__global__ void add_kernel(T* out, const T* a, const T* b, float alpha, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float x = to_float(a[i]), y = to_float(b[i]);
        out[i] = from_float<T>(alpha == 1.0f ? x + y : x + alpha * y);
    }
}

__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

__device__ __forceinline__ float gelu_erf(float v) {
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

template <typename T>
__global__ void gelu_kernel(T* out, const T* x, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = from_float<T>(gelu_erf(to_float(x[i])));
}

// 16 bytes a thread (4 f32 or 8 half elements) in one load and one store: n a multiple of that,
// pointers 16-byte aligned. out may be x (in place).
template <typename T>
__global__ void gelu16_kernel(T* out, const T* x, int64_t n16) {
    pdl_begin();  // launched with launch_dependent: waits for the kernel before (its x)
    constexpr int kElems = 16 / sizeof(T);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n16;
         i += int64_t(gridDim.x) * blockDim.x) {
        uint4 u = reinterpret_cast<const uint4*>(x)[i];
        T* e = reinterpret_cast<T*>(&u);
#pragma unroll
        for (int j = 0; j < kElems; ++j) e[j] = from_float<T>(gelu_erf(to_float(e[j])));
        reinterpret_cast<uint4*>(out)[i] = u;
    }
}

// Runs f(T{}) with T the element type of the float dtype dt.
template <typename F>
void by_float_type(DType dt, F&& f) {
    if (dt == DType::F32) {
        f(float{});
    } else if (dt == DType::F16) {
        f(__half{});
    } else {
        f(__nv_bfloat16{});
    }
}

}  // namespace

void add(void* out, const void* a, const void* b, DType dt, float alpha, int64_t n,
         cudaStream_t stream) {
    if (n <= 0) return;
    by_float_type(dt, [&](auto zero) {
        using T = decltype(zero);
        add_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
            static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), alpha, n);
    });
    FERRIS_CUDA_LAUNCH_CHECK("add_kernel");
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    silu_mul_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(out, gate, up, n);
    FERRIS_CUDA_LAUNCH_CHECK("silu_mul_kernel");
}

void gelu(void* out, const void* x, DType dt, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    const bool aligned =
        reinterpret_cast<uintptr_t>(out) % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
    by_float_type(dt, [&](auto zero) {
        using T = decltype(zero);
        constexpr int64_t kElems = 16 / sizeof(T);
        if (aligned && n % kElems == 0)
            launch_dependent("gelu16_kernel", gelu16_kernel<T>,
                             dim3(grid_for(n / kElems, kThreads)), dim3(kThreads), 0, stream,
                             static_cast<T*>(out), static_cast<const T*>(x), n / kElems);
        else
            gelu_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
                static_cast<T*>(out), static_cast<const T*>(x), n);
    });
    FERRIS_CUDA_LAUNCH_CHECK("gelu_kernel");
}

}  // namespace ferris::cuda
