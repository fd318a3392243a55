// The decode GEMV kernel: out (N, O) = x (N, I) W^T for N <= 4 rows and bf16/f16 weights, with
// the epilogues decode needs. A decode step is memory-bound: all that matters is how fast W
// streams. So:
// - x is staged once per block in shared memory, RMS-normalized first when asked and then rounded
//   to W's dtype, as the tensor-core path rounds it. The dot products then read it from there.
//   Rows longer than kGemvStageMax without a norm read x in place instead (staging 4,864 floats
//   cost more than the down projection's own latency).
// - A `team` of threads shares one item (a row; for the dual modes a pair of rows): 8-32 threads
//   within a warp (a warp then reads 32 / team items at once; shuffles sum the partial dots), or
//   64-256 threads over several warps (their sums meet in shared memory). Each thread keeps up
//   to kGemvUnroll 16-byte loads in flight per row.
// - The grid is at most one wave of resident blocks, and blocks loop over the items. The first
//   weight loads go out before the wait on the previous kernel (PDL), because weights never
//   depend on it.
// Included by gemv.cu and by the kernel lab (dev/gemv_lab.cu).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/device_util.cuh"
#include "backends/cuda/gemv.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

constexpr int kGemvBlock = 256;          // threads a block
constexpr int kGemvUnroll = 8;           // 16-byte loads in flight per thread and row
constexpr int64_t kGemvStageMax = 1024;  // x rows up to this long are staged without a norm

// Whether a block stages x in shared memory: always with a norm (the block needs all of x for
// it), else for rows up to kGemvStageMax.
__host__ __device__ constexpr bool gemv_stages_x(bool norm, int64_t in) {
    return norm || in <= kGemvStageMax;
}

// Threads an item, from the kernel lab (dev/gemv_lab.cu): 896 columns (112 chunks) -> 16 threads
// of 7 16-byte loads, a warp on two rows at once; 4,864 columns (608 chunks) -> 64 threads of 9.5
// (5.95 us against 6.63 with 128 and 9.80 with 256 on the H200).
inline int gemv_team_for(int64_t in) {
    const int64_t chunks = in / 8;
    return chunks <= 64 ? 8 : chunks <= 128 ? 16 : chunks <= 256 ? 32 : 64;
}

enum class GemvMode {
    Plain,       // out = W x + b
    Accumulate,  // out += W x + b: a residual add in the epilogue
    SwiGlu,      // out = silu(Wg x) * (Wu x), w2 = Wu: both rows in one pass
    QkvRope,     // decode's stacked q/k/v product, then rope and the cache writes (GemvRope)
};

// Up to two byte ranges the kernel asks L2 to fetch (cp.async.bulk.prefetch, sm_90+) while it
// runs: the weights of the product after it, so the DRAM keeps streaming across kernel boundaries.
struct GemvPrefetch {
    const void* ptr[2] = {nullptr, nullptr};
    int64_t bytes[2] = {0, 0};
};

struct GemvParams {
    float* out = nullptr;  // (N, items) f32 (not QkvRope)
    const float* x = nullptr;
    const void* w = nullptr;
    const void* w2 = nullptr;            // SwiGlu: Wu
    const float* bias = nullptr;         // (O) f32 or null (Plain, Accumulate, QkvRope)
    int64_t in = 0, items = 0;           // items: O, or O / 2 for QkvRope
    int team = 32;                       // threads an item: 8, 16, 32, 64, 128 or 256
    const float* norm_weight = nullptr;  // (in) f32: x is RMS-normalized first; null: as it is
    float eps = 0.0f;
    GemvRope rope;
    GemvPrefetch prefetch;
};

namespace gemv_detail {

// One 16-byte chunk of a weight row (8 elements) against the x rows: staged ones (already rounded
// to T, in shared memory) or, kRound, x itself in global memory, rounded here.
template <typename T, int N, bool kRound>
__device__ __forceinline__ void dot8(const uint4& packed, const float* x, int64_t in, int64_t c,
                                     float (&acc)[N]) {
    const T* e = reinterpret_cast<const T*>(&packed);
    float wv[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) wv[k] = to_float(e[k]);
#pragma unroll
    for (int r = 0; r < N; ++r) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * in + c * 8);
        float4 a, b;
        if constexpr (kRound) {
            a = __ldg(xr), b = __ldg(xr + 1);
        } else {
            a = xr[0], b = xr[1];
        }
        float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            if constexpr (kRound) xv[k] = to_float(from_float<T>(xv[k]));
            acc[r] += wv[k] * xv[k];
        }
    }
}

// A QkvRope item's row pair (i, i + HS/2) of head `head` (q heads, then k, then v) for token row
// r, from its two dot products a, b: bias added, then rope (v's pair as it is).
struct RopedPair {
    int64_t head, i;
    int32_t pos;
    float lo, hi;
};
__device__ __forceinline__ RopedPair rope_pair(const GemvRope& g, const float* bias, int64_t item,
                                               int r, float a, float b) {
    const int64_t half = g.hs / 2;
    RopedPair out;
    out.head = item / half, out.i = item % half, out.pos = g.positions[r];
    const int64_t row = out.head * g.hs + out.i;
    if (bias) {
        a += bias[row];
        b += bias[row + half];
    }
    if (out.head >= g.nh + g.nkv) {  // v
        out.lo = a, out.hi = b;
        return out;
    }
    float sn, cs;  // accurate sincosf of the f32 angle, as the rope op
    sincosf(static_cast<float>(out.pos) * g.inv_freq[out.i], &sn, &cs);
    out.lo = a * cs - b * sn, out.hi = b * cs + a * sn;
    return out;
}

// QkvRope's epilogue for item `item`, token row r: a, b are the pair's two dot products.
__device__ __forceinline__ void rope_store(const GemvParams& p, int64_t item, int r, float a,
                                           float b) {
    const GemvRope& g = p.rope;
    const RopedPair v = rope_pair(g, p.bias, item, r, a, b);
    const int64_t half = g.hs / 2, head = v.head, i = v.i;
    const int32_t pos = v.pos;
    const float lo = v.lo, hi = v.hi;
    if (head >= g.nh + g.nkv) {  // v: copied as it is
        const int64_t at = pos * g.v_seq + (head - g.nh - g.nkv) * g.hs + i;
        store_any(g.v_cache, g.cache_dtype, at, lo);
        store_any(g.v_cache, g.cache_dtype, at + half, hi);
        return;
    }
    if (head < g.nh) {
        float* q = g.q_out + (r * g.nh + head) * g.hs;
        q[i] = lo;
        q[i + half] = hi;
    } else {
        const int64_t at = pos * g.k_seq + (head - g.nh) * g.hs + i;
        store_any(g.k_cache, g.cache_dtype, at, lo);
        store_any(g.k_cache, g.cache_dtype, at + half, hi);
    }
}

}  // namespace gemv_detail

namespace gemv_detail {
// Block b's share of the ranges, in one bulk prefetch each (thread 0).
__device__ __forceinline__ void prefetch_share(const GemvPrefetch& f) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (threadIdx.x != 0) return;
    for (int k = 0; k < 2; ++k) {
        if (!f.ptr[k] || f.bytes[k] <= 0) continue;
        const int64_t share = ((f.bytes[k] + gridDim.x - 1) / gridDim.x + 15) / 16 * 16;
        const int64_t begin = share * blockIdx.x;
        const int64_t end = min(f.bytes[k], begin + share) / 16 * 16;
        if (end <= begin) continue;
        const char* at = static_cast<const char*>(f.ptr[k]) + begin;
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(at),
                     "r"(static_cast<uint32_t>(end - begin))
                     : "memory");
    }
#endif
}
}  // namespace gemv_detail

template <typename T, int N, GemvMode kMode>
__global__ void __launch_bounds__(kGemvBlock, 2) gemv_kernel(GemvParams p) {
    using namespace gemv_detail;
    constexpr bool kDual = kMode == GemvMode::SwiGlu || kMode == GemvMode::QkvRope;
    extern __shared__ float4 gemv_smem[];
    float* xs = reinterpret_cast<float*>(gemv_smem);  // (N, in): the x actually multiplied
    __shared__ float inv_rms[N];
    __shared__ float reduce_scratch[32];
    __shared__ float team_partial[2][N][kGemvBlock / 32];
    const int team = p.team, sub = threadIdx.x % team;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t in = p.in, chunks = in / 8, c_step = static_cast<int64_t>(team) * kGemvUnroll;
    const int64_t per_block = kGemvBlock / team;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * per_block;
    const T* w = static_cast<const T*>(p.w);
    const T* w2 = static_cast<const T*>(p.w2);

    // The weight rows of an item (the second only for the dual modes).
    auto rows_of = [&](int64_t item, const uint4*& ra, const uint4*& rb) {
        if constexpr (kMode == GemvMode::QkvRope) {
            const int64_t half = p.rope.hs / 2;
            const int64_t row = (item / half) * p.rope.hs + item % half;
            ra = reinterpret_cast<const uint4*>(w + row * in);
            rb = reinterpret_cast<const uint4*>(w + (row + half) * in);
        } else {
            ra = reinterpret_cast<const uint4*>(w + item * in);
            rb = reinterpret_cast<const uint4*>((kDual ? w2 : w) + item * in);
        }
    };
    uint4 va[kGemvUnroll], vb[kGemvUnroll];
    auto load = [&](int64_t item, int64_t c0) {
        const uint4 *ra = nullptr, *rb = nullptr;
        const bool live = item < p.items;
        if (live) rows_of(item, ra, rb);
#pragma unroll
        for (int u = 0; u < kGemvUnroll; ++u) {
            const int64_t c = c0 + u * team;
            const bool ok = live && c < chunks;
            va[u] = ok ? __ldg(ra + c) : make_uint4(0, 0, 0, 0);
            if constexpr (kDual) vb[u] = ok ? __ldg(rb + c) : make_uint4(0, 0, 0, 0);
        }
    };

    const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block;  // block-uniform
    load(first + threadIdx.x / team, sub);  // before the wait: weights never depend on it
    prefetch_share(p.prefetch);
    pdl_begin();
    if (p.norm_weight) {
#pragma unroll
        for (int r = 0; r < N; ++r) {
            float ss = 0.0f;
            for (int64_t i = threadIdx.x; i < in; i += kGemvBlock)
                ss += p.x[r * in + i] * p.x[r * in + i];
            ss = block_reduce(ss, reduce_scratch);
            if (threadIdx.x == 0) inv_rms[r] = 1.0f / sqrtf(ss / static_cast<float>(in) + p.eps);
        }
        __syncthreads();
    }
    // Long rows without a norm read x where it is: staging 4,864 floats per block cost more than
    // the product's own latency (the down projection).
    const bool staged = gemv_stages_x(p.norm_weight != nullptr, in);
    if (staged) {
        for (int64_t i = threadIdx.x; i < N * in; i += kGemvBlock) {
            float v = p.x[i];
            if (p.norm_weight) v = p.norm_weight[i % in] * (v * inv_rms[i / in]);  // as rms_norm
            xs[i] = to_float(from_float<T>(v));
        }
        __syncthreads();
    }

    bool loaded = true;
    for (int64_t base = first; base < p.items; base += stride) {  // uniform across the block
        const int64_t item = base + threadIdx.x / team;
        float acc[N], acc2[N];
#pragma unroll
        for (int r = 0; r < N; ++r) acc[r] = acc2[r] = 0.0f;
        for (int64_t c0 = sub; c0 < chunks; c0 += c_step) {
            if (!loaded) load(item, c0);
            loaded = false;
#pragma unroll
            for (int u = 0; u < kGemvUnroll; ++u) {
                const int64_t c = c0 + u * team;
                if (c >= chunks) continue;
                if (staged) {
                    dot8<T, N, false>(va[u], xs, in, c, acc);
                    if constexpr (kDual) dot8<T, N, false>(vb[u], xs, in, c, acc2);
                } else {
                    dot8<T, N, true>(va[u], p.x, in, c, acc);
                    if constexpr (kDual) dot8<T, N, true>(vb[u], p.x, in, c, acc2);
                }
            }
        }
        loaded = false;  // a thread past the row's chunks skipped its loop: nothing is preloaded
        // Team sums: shuffles within a warp, then (teams of several warps) shared memory.
#pragma unroll
        for (int r = 0; r < N; ++r)
            for (int s = min(team, 32) / 2; s > 0; s >>= 1) {
                acc[r] += __shfl_xor_sync(kFullMask, acc[r], s);
                if constexpr (kDual) acc2[r] += __shfl_xor_sync(kFullMask, acc2[r], s);
            }
        if (team > 32) {
            if (lane == 0)
#pragma unroll
                for (int r = 0; r < N; ++r) {
                    team_partial[0][r][warp] = acc[r];
                    team_partial[1][r][warp] = acc2[r];
                }
            __syncthreads();
            if (sub == 0)
#pragma unroll
                for (int r = 0; r < N; ++r) {
                    acc[r] = acc2[r] = 0.0f;
                    for (int k = 0; k < team / 32; ++k) {
                        acc[r] += team_partial[0][r][warp + k];
                        acc2[r] += team_partial[1][r][warp + k];
                    }
                }
            __syncthreads();  // read before the next item writes
        }
        if (sub != 0 || item >= p.items) continue;
#pragma unroll
        for (int r = 0; r < N; ++r) {
            if constexpr (kMode == GemvMode::QkvRope) {
                rope_store(p, item, r, acc[r], acc2[r]);
            } else if constexpr (kMode == GemvMode::SwiGlu) {
                p.out[r * p.items + item] = acc[r] / (1.0f + expf(-acc[r])) * acc2[r];
            } else {
                const float s = acc[r] + (p.bias ? p.bias[item] : 0.0f);
                float* dst = p.out + r * p.items + item;
                *dst = kMode == GemvMode::Accumulate ? *dst + s : s;
            }
        }
    }
}

}  // namespace ferris::cuda
