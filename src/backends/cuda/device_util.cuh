// Device helpers shared by the kernels: float loads/stores by element type (f32, f16, bf16; f32 ->
// bf16/f16 round to nearest even like the CPU), runtime-dtype loads, warp and block reductions,
// and the launch-size helper. Included only by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// Four consecutive elements as floats (one 16-byte or 8-byte load; p aligned to that), and back.
__device__ __forceinline__ void load4(const float* p, float (&v)[4]) {
    const float4 f = *reinterpret_cast<const float4*>(p);
    v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
}
template <typename T>
__device__ __forceinline__ void load4(const T* p, float (&v)[4]) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const T* e = reinterpret_cast<const T*>(&u);
    v[0] = to_float(e[0]), v[1] = to_float(e[1]), v[2] = to_float(e[2]), v[3] = to_float(e[3]);
}
__device__ __forceinline__ void store4(float* p, const float (&v)[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
template <typename T>
__device__ __forceinline__ void store4(T* p, const float (&v)[4]) {
    uint2 u;
    T* e = reinterpret_cast<T*>(&u);
    e[0] = from_float<T>(v[0]), e[1] = from_float<T>(v[1]), e[2] = from_float<T>(v[2]),
    e[3] = from_float<T>(v[3]);
    *reinterpret_cast<uint2*>(p) = u;
}

// Element i of a float buffer whose dtype is known only at run time (a uniform branch).
__device__ __forceinline__ float load_any(const void* p, DType dt, int64_t i) {
    if (dt == DType::F32) return static_cast<const float*>(p)[i];
    if (dt == DType::F16) return __half2float(static_cast<const __half*>(p)[i]);
    return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

// And stored there (rounded to nearest even for f16/bf16).
__device__ __forceinline__ void store_any(void* p, DType dt, int64_t i, float v) {
    if (dt == DType::F32)
        static_cast<float*>(p)[i] = v;
    else if (dt == DType::F16)
        static_cast<__half*>(p)[i] = from_float<__half>(v);
    else
        static_cast<__nv_bfloat16*>(p)[i] = from_float<__nv_bfloat16>(v);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
    return v;
}

// Sum (or max) over the whole block; every thread gets the result. blockDim.x is a multiple of
// 32 and at most 1024; `scratch` holds 32 values.
template <typename T, bool kMax = false>
__device__ __forceinline__ T block_reduce(T v, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if constexpr (kMax) {
        v = warp_max(v);
    } else {
        v = warp_sum(v);
    }
    __syncthreads();  // scratch may still be read by a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = lane < warps ? scratch[lane] : (kMax ? T(-INFINITY) : T(0));
    if constexpr (kMax) {
        r = warp_max(r);
    } else {
        r = warp_sum(r);
    }
    return r;
}

// (value, first id) maxima: the larger value wins, then the lower id; (-inf, INT_MAX) is "none".
__device__ __forceinline__ bool better(float v, int id, float best, int best_id) {
    return v > best || (v == best && id < best_id);
}
__device__ __forceinline__ void warp_best(float& v, int& id) {
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(kFullMask, v, o);
        const int oid = __shfl_xor_sync(kFullMask, id, o);
        if (better(ov, oid, v, id)) {
            v = ov;
            id = oid;
        }
    }
}
// The block's largest value and its first id; every thread gets them (all threads call it).
__device__ inline void block_best(float& v, int& id) {
    __shared__ float warp_v[32];
    __shared__ int warp_id[32];
    warp_best(v, id);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();  // a previous call may still read warp_v
    if (lane == 0) {
        warp_v[warp] = v;
        warp_id[warp] = id;
    }
    __syncthreads();
    v = lane < warps ? warp_v[lane] : -INFINITY;
    id = lane < warps ? warp_id[lane] : INT_MAX;
    warp_best(v, id);
}

// Blocks for a grid-stride loop over n elements with `threads` per block.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65536) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > max_blocks) b = max_blocks;
    return static_cast<unsigned>(b);
}

}  // namespace ferris::cuda
