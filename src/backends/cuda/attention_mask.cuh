// Which keys a query row sees (AttentionMask semantics, backends/backend.h), the relative bias,
// and the online-softmax rescale: shared by the SIMT and the tensor-core attention kernels.
#pragma once

#include <cstdint>

#include "backends/cuda/attention.cuh"

namespace ferris::cuda {

// Query t of batch row b sees keys [begin, end): its own packed segment, or the unpadded keys;
// causal also stops at its own position. Both bounds never decrease with t.
struct KeyRange {
    int64_t begin, end;
};
__device__ __forceinline__ KeyRange range_of(const AttentionArgs& a, int64_t b, int64_t t) {
    if (t >= a.t_n) return {0, 0};
    if (a.segments) {  // the last segment starting at or before t
        int64_t lo = 0, hi = a.n_segments - 1;
        while (lo < hi) {
            const int64_t mid = (lo + hi + 1) / 2;
            if (a.segments[mid] <= t) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return {a.segments[lo], a.causal ? t + 1 : static_cast<int64_t>(a.segments[lo + 1])};
    }
    const int64_t keys = a.key_lengths ? static_cast<int64_t>(a.key_lengths[b]) : a.s_n;
    return {0, a.causal ? min(keys, a.q_offset + t + 1) : keys};
}
__device__ __forceinline__ float bias_of(const AttentionArgs& a, int64_t h, int64_t t, int64_t s) {
    return a.bias ? a.bias[h * a.bias_width + s - t + (a.bias_width + 1) / 2 - 1] : 0.0f;
}

// Online-softmax rescale: the weight of the old accumulator when the running max moves m -> m_new.
__device__ __forceinline__ float rescale(float m, float m_new) {
    return m == -INFINITY ? 0.0f : expf(m - m_new);
}

}  // namespace ferris::cuda
