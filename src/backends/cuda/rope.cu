// Rope kernel: one block per row; cos/sin of the row's f32 angles go to shared memory once
// (accurate sincosf, never __sinf), then threads rotate the (i, i + HS/2) pairs of every head.
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/rope.cuh"

namespace ferris::cuda {

namespace {

__global__ void rope_kernel(float* __restrict__ x, const int32_t* __restrict__ positions,
                            const float* __restrict__ inv_freq, int64_t h, int64_t hs) {
    extern __shared__ float cs[];  // cos (half), then sin (half)
    const int64_t half = hs / 2;
    float* sn = cs + half;
    const float pos = static_cast<float>(positions[blockIdx.x]);
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
        const float angle = pos * inv_freq[i];
        sincosf(angle, &sn[i], &cs[i]);
    }
    __syncthreads();
    float* row = x + blockIdx.x * h * hs;
    for (int64_t p = threadIdx.x; p < h * half; p += blockDim.x) {
        const int64_t j = p / half, i = p % half;
        float* v = row + j * hs;
        const float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = b * cs[i] + a * sn[i];
    }
}

// Decode's fused q/k/v tail: one block per token; row = [q heads | k heads | v heads] of the fused
// projection. q is rotated into q_out, k rotated and v copied into the caches at the token's
// position (read on the device), converted to the cache dtype.
template <typename T>
__global__ void rope_qkv_kernel(float* __restrict__ q_out, T* __restrict__ k_cache,
                                T* __restrict__ v_cache, int64_t k_seq, int64_t v_seq,
                                const float* __restrict__ qkv,
                                const int32_t* __restrict__ positions,
                                const float* __restrict__ inv_freq, int64_t nh, int64_t nkv,
                                int64_t hs) {
    pdl_begin();
    extern __shared__ float cs[];  // cos (half), then sin (half)
    const int64_t half = hs / 2, n = blockIdx.x;
    float* sn = cs + half;
    const int32_t p = positions[n];
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
        const float angle = static_cast<float>(p) * inv_freq[i];
        sincosf(angle, &sn[i], &cs[i]);
    }
    __syncthreads();
    const float* row = qkv + n * (nh + 2 * nkv) * hs;
    for (int64_t e = threadIdx.x; e < (nh + nkv) * half; e += blockDim.x) {
        const int64_t j = e / half, i = e % half;
        const float a = row[j * hs + i], b = row[j * hs + i + half];
        const float lo = a * cs[i] - b * sn[i], hi = b * cs[i] + a * sn[i];
        if (j < nh) {
            float* qo = q_out + (n * nh + j) * hs;
            qo[i] = lo;
            qo[i + half] = hi;
        } else {
            T* ko = k_cache + p * k_seq + (j - nh) * hs;
            ko[i] = from_float<T>(lo);
            ko[i + half] = from_float<T>(hi);
        }
    }
    const float* v = row + (nh + nkv) * hs;
    T* vo = v_cache + p * v_seq;
    for (int64_t e = threadIdx.x; e < nkv * hs; e += blockDim.x) vo[e] = from_float<T>(v[e]);
}

template <typename T>
void launch_rope_qkv(float* q_out, void* k_cache, void* v_cache, int64_t k_seq, int64_t v_seq,
                     const float* qkv, const int32_t* positions, const float* inv_freq, int64_t n,
                     int64_t nh, int64_t nkv, int64_t hs, cudaStream_t stream) {
    const size_t smem = static_cast<size_t>(hs / 2) * 2 * sizeof(float);
    launch_dependent("rope_qkv_kernel", rope_qkv_kernel<T>, static_cast<unsigned>(n), 256, smem,
                     stream, q_out, static_cast<T*>(k_cache), static_cast<T*>(v_cache), k_seq,
                     v_seq, qkv, positions, inv_freq, nh, nkv, hs);
}

}  // namespace

void rope(float* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t h,
          int64_t hs, cudaStream_t stream) {
    if (n <= 0 || h <= 0 || hs < 2) return;
    const size_t smem = static_cast<size_t>(hs / 2) * 2 * sizeof(float);
    rope_kernel<<<static_cast<unsigned>(n), 128, smem, stream>>>(x, positions, inv_freq, h, hs);
    FERRIS_CUDA_LAUNCH_CHECK("rope_kernel");
}

void rope_qkv(float* q_out, void* k_cache, void* v_cache, DType cache_dtype, int64_t k_seq,
              int64_t v_seq, const float* qkv, const int32_t* positions, const float* inv_freq,
              int64_t n, int64_t nh, int64_t nkv, int64_t hs, cudaStream_t stream) {
    if (n <= 0 || hs < 2) return;
    switch (cache_dtype) {
        case DType::F32:
            return launch_rope_qkv<float>(q_out, k_cache, v_cache, k_seq, v_seq, qkv, positions,
                                          inv_freq, n, nh, nkv, hs, stream);
        case DType::F16:
            return launch_rope_qkv<__half>(q_out, k_cache, v_cache, k_seq, v_seq, qkv, positions,
                                           inv_freq, n, nh, nkv, hs, stream);
        default:
            return launch_rope_qkv<__nv_bfloat16>(q_out, k_cache, v_cache, k_seq, v_seq, qkv,
                                                  positions, inv_freq, n, nh, nkv, hs, stream);
    }
}

}  // namespace ferris::cuda
