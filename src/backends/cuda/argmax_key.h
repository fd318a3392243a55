// The 64-bit key the persistent decode kernel's argmax meets in (decode_head.cuh): atomicMax of
// keys keeps the larger value and, on equal values, the lower row, as the argmax op does. Plain
// C++ as well as CUDA, so the CPU tests check the ordering.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FERRIS_HOST_DEVICE __host__ __device__
#else
#define FERRIS_HOST_DEVICE
#endif

namespace ferris::cuda {

// The float's bits, made to order as unsigned integers do (larger value, larger key); -0 counts
// as +0, as the argmax op's comparisons do. Not for NaN (the kernel never keeps one).
FERRIS_HOST_DEVICE inline uint32_t ordered_bits(float v) {
    if (v == 0.0f) v = 0.0f;
    uint32_t u;
#if defined(__CUDA_ARCH__)
    u = __float_as_uint(v);
#else
    std::memcpy(&u, &v, sizeof u);
#endif
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// (value, row) packed; 0 (nothing seen) is below every key of a row.
FERRIS_HOST_DEVICE inline uint64_t argmax_key(float v, int32_t row) {
    return (static_cast<uint64_t>(ordered_bits(v)) << 32) |
           (0xffffffffu - static_cast<uint32_t>(row));
}

// The row of a key (0 for the empty key, as the argmax op answers a row of NaN).
FERRIS_HOST_DEVICE inline int32_t argmax_row(uint64_t key) {
    return key ? static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(key)) : 0;
}

}  // namespace ferris::cuda
