// Block-level pieces of the sampling kernels (sampling.cu): exclusive
// scans, order-preserving float keys, the radix walks behind top-k and top-p (8-bit digits from
// the top, shared histograms) and the ordered search behind the inverse CDF. Every function here
// is called by all threads of a block (they synchronize); blockDim.x is a multiple of 32.
#pragma once

#include <climits>
#include <cstdint>

#include "backends/cuda/device_util.cuh"

namespace ferris::cuda::sampling {

// ---- (value, first id) maxima and scans ----

// better() and block_best() live in device_util.cuh (argmax uses them too).

// Sum of v over the threads before this one (in thread order), and the block's total.
__device__ inline double block_exclusive_scan(double v, double& total) {
    __shared__ double warp_total[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    double incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        const double t = __shfl_up_sync(kFullMask, incl, o);
        if (lane >= o) incl += t;
    }
    double excl = __shfl_up_sync(kFullMask, incl, 1);
    if (lane == 0) excl = 0.0;
    __syncthreads();  // a previous call may still read warp_total
    if (lane == 31) warp_total[warp] = incl;
    __syncthreads();
    // Every warp scans the warp totals itself (same order, same sums): no second barrier.
    double w = lane < warps ? warp_total[lane] : 0.0;
    for (int o = 1; o < 32; o <<= 1) {
        const double t = __shfl_up_sync(kFullMask, w, o);
        if (lane >= o) w += t;
    }
    const double warps_before = __shfl_sync(kFullMask, w, (warp + 31) & 31);
    total = __shfl_sync(kFullMask, w, 31);
    return (warp == 0 ? 0.0 : warps_before) + excl;
}

// ---- Order-preserving keys: a < b as floats <=> key(a) < key(b) (NaN aside) ----

__device__ __forceinline__ uint32_t order_key(float f) {
    uint32_t b = __float_as_uint(f);
    if (b == 0x80000000u) b = 0;  // -0 ranks with +0: they compare equal
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// ---- Candidates: values in token-id order ----

struct Candidates {
    const float* x;     // (n)
    const int32_t* id;  // (n) their ids; nullptr: position j is id j
    int n;
    __device__ int id_at(int j) const { return id ? id[j] : j; }
};

// ---- Radix walks ----

constexpr int kRadixBins = 256;              // 8-bit digits, 4 levels from the top
constexpr int kCopies = 8;                   // histogram copies: lanes l, l + 8, ... share one
constexpr int kCopyStride = kRadixBins + 1;  // copies of a bin sit in different banks

// Masses are summed in double: top-p's cut moves by a token when the mass above it is off by that
// token's share (~1 / V of flat logits), and f32 sums over 10^5 tokens are off by more.
struct WalkShared {
    unsigned count[kCopies * kCopyStride];
    double mass[kCopies * kCopyStride];
    unsigned bin_count[kRadixBins];
    double bin_mass[kRadixBins];
    // select_bin's answer
    int bin;
    double above;          // summed value of the bins above it
    unsigned count_above;  // elements in the bins above it
    bool reached;
    double total;
    // ordered_find's
    int found, last_nonempty, pick;
};

// Per 8-bit digit at `shift`: the count (and with kMass the mass exp(x - mx)) of the candidates
// whose key is >= floor and whose digits above `shift` equal those of `prefix`.
template <bool kMass>
__device__ void radix_histogram(const Candidates& c, uint32_t floor, uint32_t prefix, int shift,
                                float mx, WalkShared& sh) {
    for (int i = threadIdx.x; i < kCopies * kCopyStride; i += blockDim.x) {
        sh.count[i] = 0;
        if constexpr (kMass) sh.mass[i] = 0.0;
    }
    __syncthreads();
    const uint32_t high = shift >= 24 ? 0u : ~0u << (shift + 8);
    const int copy = static_cast<int>(threadIdx.x & (kCopies - 1)) * kCopyStride;
    for (int j = threadIdx.x; j < c.n; j += blockDim.x) {
        const float x = c.x[j];
        const uint32_t key = order_key(x);
        if (key < floor || (key & high) != prefix) continue;
        const int bin = static_cast<int>((key >> shift) & 0xffu);
        atomicAdd(&sh.count[copy + bin], 1u);
        if constexpr (kMass) atomicAdd(&sh.mass[copy + bin], static_cast<double>(expf(x - mx)));
    }
    __syncthreads();
    if (threadIdx.x < kRadixBins) {
        unsigned n = 0;
        double m = 0.0;
        for (int k = 0; k < kCopies; ++k) {
            n += sh.count[k * kCopyStride + threadIdx.x];
            if constexpr (kMass) m += sh.mass[k * kCopyStride + threadIdx.x];
        }
        sh.bin_count[threadIdx.x] = n;
        if constexpr (kMass) sh.bin_mass[threadIdx.x] = m;
    }
    __syncthreads();
}

template <bool kMass>
__device__ __forceinline__ double bin_value(const WalkShared& sh, int b) {
    return kMass ? sh.bin_mass[b] : static_cast<double>(sh.bin_count[b]);
}

// Walking the bins from the top (255 down), the first one where base + (the bins above it) +
// its own value reaches target; sets sh.bin, sh.above, sh.count_above, sh.reached. When rounding
// keeps every bin short of target: the lowest non-empty bin, reached = false. Warp 0 decides.
template <bool kMass>
__device__ void select_bin(double base, double target, WalkShared& sh) {
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        double own = 0.0;
        unsigned own_count = 0;
        for (int r = 0; r < 8; ++r) {  // lane l holds bins 255 - 8l down to 248 - 8l
            own += bin_value<kMass>(sh, 255 - 8 * lane - r);
            own_count += sh.bin_count[255 - 8 * lane - r];
        }
        double incl = own;
        unsigned incl_count = own_count;
        for (int o = 1; o < 32; o <<= 1) {
            const double t = __shfl_up_sync(kFullMask, incl, o);
            const unsigned tc = __shfl_up_sync(kFullMask, incl_count, o);
            if (lane >= o) {
                incl += t;
                incl_count += tc;
            }
        }
        double excl = __shfl_up_sync(kFullMask, incl, 1);
        unsigned excl_count = __shfl_up_sync(kFullMask, incl_count, 1);
        if (lane == 0) {
            excl = 0.0;
            excl_count = 0;
        }
        const unsigned hit = __ballot_sync(kFullMask, own_count > 0 && base + incl >= target);
        const unsigned nonempty = __ballot_sync(kFullMask, own_count > 0);
        const bool reached = hit != 0;
        const int owner = reached ? __ffs(hit) - 1 : (nonempty ? 31 - __clz(nonempty) : 0);
        if (lane == owner) {
            double cum = excl;
            unsigned cum_count = excl_count;
            int bin = 255 - 8 * lane;
            double above = cum;
            unsigned count_above = cum_count;
            for (int r = 0; r < 8; ++r) {
                const int b = 255 - 8 * lane - r;
                if (sh.bin_count[b] == 0) continue;
                bin = b;
                above = cum;
                count_above = cum_count;
                if (reached && base + cum + bin_value<kMass>(sh, b) >= target) break;
                cum += bin_value<kMass>(sh, b);
                cum_count += sh.bin_count[b];
            }
            sh.bin = bin;
            sh.above = above;
            sh.count_above = count_above;
            sh.reached = reached;
        }
    }
    __syncthreads();
}

// Sum of the last radix_histogram<true>'s bin masses.
__device__ inline double histogram_mass(WalkShared& sh) {
    if (threadIdx.x < 32) {
        double m = 0.0;
        for (int r = 0; r < 8; ++r) m += sh.bin_mass[threadIdx.x * 8 + r];
        m = warp_sum(m);
        if (threadIdx.x == 0) sh.total = m;
    }
    __syncthreads();
    return sh.total;
}

// The key of the k-th largest candidate (1 <= k <= n); every candidate at or above it survives
// top-k (ties at the k-th value included). Stops early once a whole bin is inside the top k.
__device__ inline uint32_t top_k_floor(const Candidates& c, int k, WalkShared& sh) {
    uint32_t prefix = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        radix_histogram<false>(c, 0u, prefix, shift, 0.0f, sh);
        select_bin<false>(0.0, static_cast<double>(remaining), sh);
        const int bin = sh.bin;
        remaining -= static_cast<int>(sh.count_above);
        const int in_bin = static_cast<int>(sh.bin_count[bin]);
        prefix |= static_cast<uint32_t>(bin) << shift;
        if (in_bin <= remaining) break;  // the whole bin is in: every key >= prefix
    }
    return prefix;
}

// Among the candidates with weight(j) > 0, in order, the one where u * (their total) falls:
// per-thread chunk sums, a block scan, then the owning thread walks its chunk. -1 if none.
// `target_of(total)` gives the point to find.
template <class Weight, class Target>
__device__ int ordered_find(const Candidates& c, Weight weight, Target target_of, WalkShared& sh) {
    const int chunk = (c.n + static_cast<int>(blockDim.x) - 1) / static_cast<int>(blockDim.x);
    const int begin = min(c.n, static_cast<int>(threadIdx.x) * chunk);
    const int end = min(c.n, begin + chunk);
    float sum = 0.0f;
    for (int j = begin; j < end; ++j) sum += weight(j);
    if (threadIdx.x == 0) {
        sh.found = INT_MAX;
        sh.last_nonempty = -1;
    }
    double total = 0.0;
    const double before = block_exclusive_scan(sum, total);  // (its barriers publish the reset)
    const double target = target_of(total);
    if (sum > 0.0f) {
        atomicMax(&sh.last_nonempty, static_cast<int>(threadIdx.x));
        if (before <= target && target < before + sum)
            atomicMin(&sh.found, static_cast<int>(threadIdx.x));
    }
    __syncthreads();
    const bool found = sh.found != INT_MAX;
    const int owner = found ? sh.found : sh.last_nonempty;  // else rounding: the last one
    if (static_cast<int>(threadIdx.x) == owner) {
        // Summed in the same order as `sum`, so the walk ends inside the chunk.
        const float local = found ? static_cast<float>(target - before) : INFINITY;
        float run = 0.0f;
        int pick = -1;
        for (int j = begin; j < end; ++j) {
            const float w = weight(j);
            if (!(w > 0.0f)) continue;
            run += w;
            pick = j;
            if (local < run) break;
        }
        sh.pick = pick;
    }
    __syncthreads();
    const int pick = owner >= 0 ? sh.pick : -1;
    __syncthreads();  // sh.found / sh.pick are free for the next call
    return pick;
}

// What top-p keeps: keys above `key`, and at `key` the ids up to `last_tie`.
struct Cut {
    uint32_t key = 0;
    int last_tie = INT_MAX;
};

// The top-p cut among candidates with key >= floor: a token survives iff the mass ranked
// strictly above it (larger value, then lower id) is < top_p * (their mass + rest_mass), where
// rest_mass is that of tokens ranked below every candidate. Walks the keys from the top by mass.
__device__ inline Cut top_p_cut(const Candidates& c, uint32_t floor, float mx, float top_p,
                                double rest_mass, WalkShared& sh) {
    uint32_t prefix = 0;
    double above = 0.0, target = 0.0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        radix_histogram<true>(c, floor, prefix, shift, mx, sh);
        if (shift == 24) target = static_cast<double>(top_p) * (histogram_mass(sh) + rest_mass);
        select_bin<true>(above, target, sh);
        if (!sh.reached) return {prefix, INT_MAX};  // rounding: keep all at or above prefix
        const int bin = sh.bin;
        above += sh.above;
        const unsigned in_bin = sh.bin_count[bin];
        prefix |= static_cast<uint32_t>(bin) << shift;
        if (in_bin == 1) return {prefix, INT_MAX};  // the boundary token alone in its bin
    }
    // Ties at the exact key: the r-th of them in id order is kept iff above + r e < target.
    const unsigned ties = sh.bin_count[sh.bin];
    const float e = expf(key_value(prefix) - mx);
    if (!(e > 0.0f)) return {prefix, INT_MAX};
    const double keep = ceil((target - above) / static_cast<double>(e));
    if (keep >= static_cast<double>(ties)) return {prefix, INT_MAX};
    const double n_keep = keep < 1.0 ? 1.0 : keep;
    const uint32_t tie_key = prefix;
    const int j = ordered_find(
        c, [&](int i) { return order_key(c.x[i]) == tie_key ? 1.0f : 0.0f; },
        [n_keep](double) { return n_keep - 0.5; }, sh);
    return {prefix, j >= 0 ? c.id_at(j) : INT_MAX};
}

// min-p as the CPU decides it, p >= min_p * p_max with the top token's e = exp(0) = 1: in f32,
// and in double where f32 rounding could flip the answer.
__device__ __forceinline__ bool passes_min_p(float e, float d, float min_p) {
    if (min_p <= 0.0f) return true;
    if (e > min_p * 1.000001f) return true;
    if (e < min_p * 0.999999f) return false;
    return exp(static_cast<double>(d)) >= static_cast<double>(min_p);
}

}  // namespace ferris::cuda::sampling
