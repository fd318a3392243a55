// Deterministic pseudo-random fills for the kernel labs: element i is a hash of i and the seed,
// uniform in [base - scale, base + scale), in any float dtype (float, __half, __nv_bfloat16).
#pragma once

#include <cstddef>
#include <cstdint>

template <typename T>
__global__ void lab_fill(T* w, size_t n, uint32_t seed, float base, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        h *= 3266489917u;
        h ^= h >> 16;
        w[i] = T(base + (h / 4294967296.0f - 0.5f) * 2.0f * scale);
    }
}
