// Elementwise kernels: grid-stride loops with accurate expf/erff (no fast-math intrinsics), so
// results agree with the CPU to an ulp or two.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/elementwise.cuh"

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

template <typename T>
__global__ void gelu_kernel(T* out, const T* x, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float v = to_float(x[i]);
        out[i] = from_float<T>(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}

// Four elements a thread (one 8- or 16-byte load and store): n % 4 == 0, pointers aligned.
template <typename T>
__global__ void gelu4_kernel(T* out, const T* x, int64_t n4) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
         i += int64_t(gridDim.x) * blockDim.x) {
        float v[4];
        load4(x + i * 4, v);
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = 0.5f * v[e] * (1.0f + erff(v[e] * 0.70710678118654752f));
        store4(out + i * 4, v);
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
    const bool vector4 = n % 4 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(x) % 16 == 0;
    by_float_type(dt, [&](auto zero) {
        using T = decltype(zero);
        if (vector4)
            gelu4_kernel<T><<<grid_for(n / 4, kThreads), kThreads, 0, stream>>>(
                static_cast<T*>(out), static_cast<const T*>(x), n / 4);
        else
            gelu_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
                static_cast<T*>(out), static_cast<const T*>(x), n);
    });
    FERRIS_CUDA_LAUNCH_CHECK("gelu_kernel");
}

}  // namespace ferris::cuda
