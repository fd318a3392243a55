// Kernel lab: how close the embedding path's in-place GELU pass (elementwise.cu's gelu16_kernel)
// comes to the memory system's ceiling at the FFN's shape (tokens x 3,072 f16), against an
// in-place copy kernel, cudaMemcpy device to device, and variants with more loads in flight.
// Median of 15 after warm-up, each in place on the same buffer.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++20 -arch=sm_90 dev/elementwise_lab.cu -o /tmp/elementwise_lab && \
//     /tmp/elementwise_lab
#include <cuda_fp16.h>

#include <cstdio>

#include "lab_fill.cuh"
#include "lab_timing.cuh"

__device__ __forceinline__ float gelu_erf(float v) {
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

__device__ __forceinline__ void gelu8(uint4& u) {
    __half* e = reinterpret_cast<__half*>(&u);
#pragma unroll
    for (int j = 0; j < 8; ++j) e[j] = __float2half_rn(gelu_erf(__half2float(e[j])));
}

// Today's pass: one 16-byte chunk a thread per grid-stride step.
__global__ void gelu_today(uint4* x, size_t n16) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n16;
         i += size_t(gridDim.x) * blockDim.x) {
        uint4 u = x[i];
        gelu8(u);
        x[i] = u;
    }
}

// U chunks a thread loaded before any is computed (more bytes in flight), grid-stride.
template <int U>
__global__ void gelu_unrolled(uint4* x, size_t n16) {
    const size_t stride = size_t(gridDim.x) * blockDim.x;
    size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
    for (; i + (U - 1) * stride < n16; i += U * stride) {
        uint4 u[U];
#pragma unroll
        for (int j = 0; j < U; ++j) u[j] = x[i + j * stride];
#pragma unroll
        for (int j = 0; j < U; ++j) gelu8(u[j]);
#pragma unroll
        for (int j = 0; j < U; ++j) x[i + j * stride] = u[j];
    }
    for (; i < n16; i += stride) {
        uint4 u = x[i];
        gelu8(u);
        x[i] = u;
    }
}

// The ceiling: the same bytes read and written, no arithmetic (xor with a runtime zero).
__global__ void copy_in_place(uint4* x, size_t n16, uint32_t zero) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n16;
         i += size_t(gridDim.x) * blockDim.x) {
        uint4 u = x[i];
        u.x ^= zero;
        x[i] = u;
    }
}

int main() {
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    for (size_t tokens : {19108, 25000}) {
        const size_t n = tokens * 3072, n16 = n / 8, bytes = n * 2;
        __half *x, *y;
        CK(cudaMalloc(&x, bytes));
        CK(cudaMalloc(&y, bytes));
        lab_fill<<<1024, 256>>>(x, n, 21, 0.0f, 1.0f);
        CK(cudaDeviceSynchronize());
        uint4* u = reinterpret_cast<uint4*>(x);
        const auto tbps = [&](float ms) { return 2.0 * bytes / (ms * 1e-3) / 1e12; };
        std::printf("tokens %zu: %.1f MB read and written\n", tokens, bytes / 1e6);
        const int full = int((n16 + 255) / 256);
        for (int grid : {full, sms * 8, sms * 16, sms * 32}) {
            const float t_copy = median_ms([&] { copy_in_place<<<grid, 256>>>(u, n16, 0u); });
            const float t_today = median_ms([&] { gelu_today<<<grid, 256>>>(u, n16); });
            const float t_u2 = median_ms([&] { gelu_unrolled<2><<<grid, 256>>>(u, n16); });
            const float t_u4 = median_ms([&] { gelu_unrolled<4><<<grid, 256>>>(u, n16); });
            std::printf(
                "  grid %7d: copy %.1f us (%.2f TB/s) | gelu today %.1f (%.2f) | unrolled x2 %.1f "
                "(%.2f) | x4 %.1f (%.2f)\n",
                grid, t_copy * 1e3, tbps(t_copy), t_today * 1e3, tbps(t_today), t_u2 * 1e3,
                tbps(t_u2), t_u4 * 1e3, tbps(t_u4));
        }
        const float t_memcpy =
            median_ms([&] { CK(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice)); });
        std::printf("  cudaMemcpy device to device %.1f us (%.2f TB/s)\n", t_memcpy * 1e3,
                    tbps(t_memcpy));
        CK(cudaFree(x));
        CK(cudaFree(y));
    }
    return 0;
}
