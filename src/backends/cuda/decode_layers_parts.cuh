// The pieces of the persistent decode kernel (decode_layers.cu): the split grid barrier, a block's
// share of a product (weights streamed into registers, x staged in shared memory), x staging, the
// SIMT decode attention over one (q head, key split) a block, and the combine of the attention's
// key splits. Device code only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/attention_mask.cuh"
#include "backends/cuda/decode_layers.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/gemv_kernel.cuh"

namespace ferris::cuda::decode {

#ifndef FERRIS_DECODE_THREADS  // the lab builds other sizes
#define FERRIS_DECODE_THREADS 384
#endif
constexpr int kThreads = FERRIS_DECODE_THREADS;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxTeam = 128;

#ifdef FERRIS_DECODE_PROFILE  // the kernel lab (dev/decode_lab.cu): when blocks arrive and leave
__device__ unsigned long long g_arrive[64][256];
__device__ unsigned long long g_leave[64];
__device__ unsigned long long g_mark[64];      // block 0, layer 1: points inside the phases
__device__ unsigned long long g_head[2][256];  // each block's LM head: x staged, products done
__device__ __forceinline__ unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
#define DECODE_MARK(layer, i) \
    if ((layer) == 1 && blockIdx.x == 0 && threadIdx.x == 0) g_mark[i] = global_ns();
#define DECODE_HEAD_MARK(i) \
    if (threadIdx.x == 0 && blockIdx.x < 256) g_head[i][blockIdx.x] = global_ns();
#else
#define DECODE_MARK(layer, i)
#define DECODE_HEAD_MARK(i)
#endif

// The scratch's header words: the grid barrier's count, the argmax's count of finished blocks and
// 64-bit maximum (decode_head.cuh), the count of blocks that left the launch. Zero when a launch
// starts: the launch's last block to leave zeroes them again, so that a scratch kept across
// launches (a graph's, the backend's) needs no memset before each (launch() makes the first one).
// And the launch's epoch, which the last block to leave increments: the flags of the values handed
// between blocks (decode_handoff.cuh) differ from one launch to the next.
constexpr int kBarrierWord = 0, kHeadDoneWord = 1, kHeadBestWord = 2 /* and 3 */, kLeftWord = 4;
constexpr int kEpochWord = 5;
constexpr int kScratchHeader = 8;  // floats, the header's words rounded up to 16-byte alignment
__device__ __forceinline__ void leave_launch(float* scratch) {
    __syncthreads();
    if (threadIdx.x != 0) return;
    unsigned* words = reinterpret_cast<unsigned*>(scratch);
    __threadfence();
    if (atomicAdd(words + kLeftWord, 1u) != gridDim.x - 1) return;
    // Every other block has left: nothing reads the header again in this launch.
    for (int i = kBarrierWord; i <= kLeftWord; ++i) words[i] = 0;
    words[kEpochWord] += 1u;
    __threadfence();
}
// The launch's epoch, read by every block when it starts (before any can leave).
__device__ __forceinline__ unsigned launch_epoch(const float* scratch) {
    return __ldcg(reinterpret_cast<const unsigned*>(scratch) + kEpochWord);
}

// A grid barrier in two halves: all blocks arrive, then all leave, and every block's writes
// before its arrival are visible after the wait (a release add, an acquire spin; the block's
// threads ordered around the arriving thread by block barriers). Between the halves a block may
// issue loads and prefetches that do not depend on the barrier: they overlap its wait. `target`
// counts the arrivals expected so far; the word is zeroed before the launch. Thread
// kBarrierThread arrives and spins: it must have no loads or bulk copies in flight, which its
// fence would wait for (4 us for a gate/up share, dev/decode_lab.cu); thread 0 issues the copies.
constexpr int kBarrierThread = kThreads - 32;  // lane 0 of the last warp, which has the fewest keys
__device__ __forceinline__ bool is_barrier_warp() {
    return (threadIdx.x >> 5) == (kBarrierThread >> 5);
}
// Attention's keys go to the other warps: the barrier's warp would load its own after the wait,
// and the block would wait for it (2,048 keys: dev/decode_lab.cu).
constexpr int kKeyWarps = kWarps - 1;
// `blocks`: the blocks that take part (the compute blocks; the prefetch blocks never arrive).
__device__ __forceinline__ void grid_arrive(unsigned* word, unsigned& target, int blocks) {
    __syncthreads();
    target += blocks;
    if (threadIdx.x == kBarrierThread) {
#ifdef FERRIS_DECODE_PROFILE
        const unsigned k = target / blocks - 1;
        if (k < 64 && blockIdx.x < 256) g_arrive[k][blockIdx.x] = global_ns();
#endif
        // (One `red.release.gpu` instead measured no faster, dev/NOTES.md.)
        __threadfence();
        atomicAdd(word, 1u);
    }
}
__device__ __forceinline__ void grid_wait(unsigned* word, unsigned target, int blocks) {
    if (threadIdx.x == kBarrierThread) {
        unsigned seen = 0;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(word) : "memory");
        } while (seen < target);
#ifdef FERRIS_DECODE_PROFILE
        const unsigned k = target / blocks - 1;
        if (k < 64 && blockIdx.x == 0) g_leave[k] = global_ns();
#endif
    }
    __syncthreads();
}

// This block's share of a product: items [lo, hi), `team` threads an item.
struct Plan {
    int64_t lo = 0, hi = 0;
    int team = 8;
    __device__ __forceinline__ int64_t count() const { return hi - lo; }
};
__host__ __device__ inline int64_t share_of(int64_t items, int64_t blocks) {
    return (items + blocks - 1) / blocks;
}
__device__ __forceinline__ Plan plan_for(int64_t items, int blocks) {
    Plan p;
    const int64_t per = share_of(items, blocks);
    p.lo = min(items, per * blockIdx.x);
    p.hi = min(items, p.lo + per);
    int team = kMaxTeam;
    while (team > 8 && per * team > kThreads) team /= 2;
    p.team = team;
    return p;
}

// An item's weight rows in global memory (the second only for dual products).
struct Rows {
    const uint4* a;
    const uint4* b;
};

// The 8 bf16 / f16 values of a 16-byte chunk as floats, by bit operations on the four words (a
// pointer cast of the chunk put it on the stack: the products ran 5x slower, dev/decode_lab.cu).
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& w, float (&out)[8]) {
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        if constexpr (std::is_same_v<T, __nv_bfloat16>) {
            out[2 * k] = __uint_as_float(words[k] << 16);
            out[2 * k + 1] = __uint_as_float(words[k] & 0xffff0000u);
        } else {
            out[2 * k] = __half2float(__ushort_as_half(static_cast<unsigned short>(words[k])));
            out[2 * k + 1] =
                __half2float(__ushort_as_half(static_cast<unsigned short>(words[k] >> 16)));
        }
    }
}

// 8 weights (one 16-byte chunk) times 8 x values, added to acc.
template <typename T>
__device__ __forceinline__ void dot_chunk(const uint4& w, const float (&x)[8], float& acc) {
    float e[8];
    unpack8<T>(w, e);
#pragma unroll
    for (int k = 0; k < 8; ++k) acc = fmaf(e[k], x[k], acc);
}

// A thread's weight loads in flight: kLoads 16-byte chunks of each of an item's rows.
#ifndef FERRIS_DECODE_LOADS  // the lab builds other counts (4: 8-20 us a step slower, dev/NOTES.md)
#define FERRIS_DECODE_LOADS 5
#endif
constexpr int kLoads = FERRIS_DECODE_LOADS;
template <int N>
struct LoadsOf {  // N chunks of each of an item's (one or two) rows
    uint4 a[N], b[N];
};
using Loads = LoadsOf<kLoads>;

// Loads the thread's chunks c0, c0 + team, ... of item j (zeros past the row or the share).
template <bool kDual, typename RowsOf, int N>
__device__ __forceinline__ void load_chunks(const Plan& p, int64_t chunks, RowsOf rows_of,
                                            int64_t j, int64_t c0, LoadsOf<N>& w) {
    const bool live = j < p.count();
    Rows r{nullptr, nullptr};
    if (live) r = rows_of(j);
#pragma unroll
    for (int u = 0; u < N; ++u) {
        const int64_t c = c0 + u * p.team;
        const bool ok = live && c < chunks;
        w.a[u] = ok ? __ldg(r.a + c) : make_uint4(0, 0, 0, 0);
        if constexpr (kDual) w.b[u] = ok ? __ldg(r.b + c) : make_uint4(0, 0, 0, 0);
    }
}

// The first loads of the block's share, issued before it waits at a grid barrier: weights never
// depend on it.
// Not in the barrier's warp (its loads would hold up its spin, dev/decode_lab.cu): products()
// loads those after the wait.
// Fewer or no preloaded loads measured slower or equal (dev/NOTES.md).
template <bool kDual, typename RowsOf, int N>
__device__ __forceinline__ void preload(const Plan& p, int64_t in, RowsOf rows_of, LoadsOf<N>& w) {
    if (is_barrier_warp()) return;
    load_chunks<kDual>(p, in / 8, rows_of, threadIdx.x / p.team, threadIdx.x % p.team, w);
}

// The block's items against the staged xs (in T: 16 bytes a chunk, so a warp's loads do not
// conflict), weights read from global memory with N chunks a row in flight, the first ones
// preloaded; epilogue(j, dot, dot2) by each team's first thread, j the item's index in the
// block's share. Uniform across the block.
template <typename T, bool kDual, typename RowsOf, typename Epilogue, int N>
__device__ __forceinline__ void products(const Plan& p, int64_t in, const T* xs, RowsOf rows_of,
                                         Epilogue epilogue, float (*team_part)[kWarps],
                                         LoadsOf<N>& w) {
    const int team = p.team, sub = threadIdx.x % team;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t slots = kThreads / team, chunks = in / 8;
    const uint4* x4 = reinterpret_cast<const uint4*>(xs);
    bool loaded = !is_barrier_warp();  // preload() skipped the barrier's warp
    for (int64_t base = 0; base < p.count(); base += slots) {
        const int64_t j = base + threadIdx.x / team;
        float acc = 0.0f, acc2 = 0.0f;
        for (int64_t c0 = sub; c0 < chunks; c0 += static_cast<int64_t>(team) * N) {
            if (!loaded) load_chunks<kDual>(p, chunks, rows_of, j, c0, w);
            loaded = false;
#pragma unroll
            for (int u = 0; u < N; ++u) {
                const int64_t c = c0 + u * team;
                if (c >= chunks) continue;
                float x[8];
                unpack8<T>(x4[c], x);
                dot_chunk<T>(w.a[u], x, acc);
                if constexpr (kDual) dot_chunk<T>(w.b[u], x, acc2);
            }
        }
        loaded = false;  // a thread past the row's chunks skipped its loop: nothing is preloaded
        for (int s = min(team, 32) / 2; s > 0; s >>= 1) {
            acc += __shfl_xor_sync(kFullMask, acc, s);
            if constexpr (kDual) acc2 += __shfl_xor_sync(kFullMask, acc2, s);
        }
        if (team > 32) {
            if (lane == 0) {
                team_part[0][warp] = acc;
                team_part[1][warp] = acc2;
            }
            __syncthreads();
            if (sub == 0) {
                acc = acc2 = 0.0f;
                for (int k = 0; k < team / 32; ++k) {
                    acc += team_part[0][warp + k];
                    acc2 += team_part[1][warp + k];
                }
            }
            __syncthreads();
        }
        if (sub == 0 && j < p.count()) epilogue(j, acc, acc2);
    }
}

// The norm weights a thread applies in stage() (its elements i = thread + k kThreads, k <
// kStageRegs), loaded ahead, between a barrier's halves: from DRAM they cost a round trip.
constexpr int kStageRegs = 4;
struct NormWeights {
    float g[kStageRegs];
};
__device__ __forceinline__ void load_norm(const float* w, int64_t n, NormWeights& nw) {
#pragma unroll
    for (int k = 0; k < kStageRegs; ++k) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kThreads;
        nw.g[k] = i < n ? __ldg(w + i) : 0.0f;
    }
}

// xs = x (n) RMS-normalized (x / rms(x) * w, the rms_norm op; w loaded by load_norm) and rounded
// to T, as a product multiplies it. x is f32 written in this launch (read past L1, each element
// once) or, for the first layer of a greedy step, the token's embedding row. n <= kStageRegs *
// kThreads.
// x[i] as a float: x written in this launch (f32, past L1), or a row of a weight (the embedding).
__device__ __forceinline__ float x_at(const float* x, int64_t i) { return __ldcg(x + i); }
template <typename W>
__device__ __forceinline__ float x_at(const W* x, int64_t i) {
    return to_float(__ldg(x + i));
}
// The thread's values v (elements i = thread + k kThreads, 0 past n) normalized into xs.
template <typename T>
__device__ __forceinline__ void stage_values(T* xs, const float (&v)[kStageRegs], int64_t n,
                                             const NormWeights& nw, float eps, float* red) {
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < kStageRegs; ++k) ss += v[k] * v[k];
    ss = block_reduce(ss, red);
    const float inv_rms = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
#pragma unroll
    for (int k = 0; k < kStageRegs; ++k) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kThreads;
        if (i < n) xs[i] = from_float<T>(nw.g[k] * (v[k] * inv_rms));
    }
    __syncthreads();
}
template <typename T, typename S>
__device__ __forceinline__ void stage(T* xs, const S* x, int64_t n, const NormWeights& nw,
                                      float eps, float* red) {
    float v[kStageRegs];
#pragma unroll
    for (int k = 0; k < kStageRegs; ++k) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kThreads;
        v[k] = i < n ? x_at(x, i) : 0.0f;
    }
    stage_values<T>(xs, v, n, nw, eps, red);
}

// xs = src (n values of T, n a multiple of 8, 16-byte aligned, written in this launch): 16-byte
// loads past L1, two a thread for the 0.5B model's h.
template <typename T>
__device__ __forceinline__ void stage_copy(T* xs, const T* src, int64_t n) {
    const uint4* from = reinterpret_cast<const uint4*>(src);
    uint4* to = reinterpret_cast<uint4*>(xs);
    for (int64_t i = threadIdx.x; i < n / 8; i += kThreads) to[i] = __ldcg(from + i);
    __syncthreads();
}

// ---- decode attention ----

// K elements lane * kS .. + kS - 1 of a cache row, past L1 (the new row was written in this
// launch).
template <int kS>
__device__ __forceinline__ void load_dims(const void* base, DType dt, int64_t at, float (&v)[kS]) {
    if (dt == DType::F32) {
        const float* p = static_cast<const float*>(base) + at;
        if constexpr (kS == 2) {
            const float2 f = __ldcg(reinterpret_cast<const float2*>(p));
            v[0] = f.x, v[1] = f.y;
        } else {
            const float4 f = __ldcg(reinterpret_cast<const float4*>(p));
            v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
        }
        return;
    }
    const unsigned short* p = static_cast<const unsigned short*>(base) + at;
    unsigned short bits[kS];
    if constexpr (kS == 2) {
        const unsigned u = __ldcg(reinterpret_cast<const unsigned*>(p));
        bits[0] = u & 0xffffu, bits[1] = u >> 16;
    } else {
        const uint2 u = __ldcg(reinterpret_cast<const uint2*>(p));
        bits[0] = u.x & 0xffffu, bits[1] = u.x >> 16, bits[2] = u.y & 0xffffu, bits[3] = u.y >> 16;
    }
#pragma unroll
    for (int j = 0; j < kS; ++j)
        v[j] = dt == DType::F16 ? __half2float(__ushort_as_half(bits[j]))
                                : __bfloat162float(__ushort_as_bfloat16(bits[j]));
}

// Where a step's attention partials and the other in-launch buffers live (global scratch; the
// words of decode_handoff.cuh sit between the header and these).
struct Scratch {
    unsigned* barrier;
    float *q, *att, *h, *part_ml, *part_o;  // h holds inter values of T (the f32 room is kept)
};

// A head's attention over one key split, element d of output `out` (h HS + d): with one split
// the output itself (att), else the partial (max, sum, unnormalized output) at `at` (head, split).
__device__ __forceinline__ void store_partial(const Scratch& s, int splits, int64_t at, int64_t out,
                                              int64_t d, int64_t hs, float m, float sum, float o) {
    if (splits == 1) {
        __stcg(s.att + out, sum > 0.0f ? o / sum : 0.0f);
        return;
    }
    __stcg(s.part_o + at * hs + d, o);
    if (d == 0) {
        __stcg(s.part_ml + at * 2, m);
        __stcg(s.part_ml + at * 2 + 1, sum);
    }
}

// Keys a warp takes at once in decode attention: their scores first, then one softmax update.
template <int D>
constexpr int kAttnKeys = D == 64 ? 8 : 4;

// A warp's group of keys: lane l holds dims l * kS .. + kS - 1 of each key's k and v.
template <int D>
struct KvGroup {
    float k[kAttnKeys<D>][D / 32], v[kAttnKeys<D>][D / 32];
};

// Where block `unit`'s keys are: (head, split) -> kv head and the key range.
struct AttnUnit {
    int64_t h, split, kvh, s_begin, s_end;
};
__device__ __forceinline__ AttnUnit attn_unit(const DecodeLayersArgs& a, int64_t unit, int splits,
                                              int64_t keys) {
    const int64_t chunk = (keys + splits - 1) / splits;
    AttnUnit u;
    u.h = unit / splits, u.split = unit % splits, u.kvh = u.h / (a.nh / a.nkv);
    u.s_begin = u.split * chunk, u.s_end = min(keys, u.s_begin + chunk);
    return u;
}

// Loads the group of keys from s0 (clamped to the range: past the end, a copy masked later).
template <int D>
__device__ __forceinline__ void load_group(const DecodeLayersArgs& a, const DecodeLayerPointers& L,
                                           const AttnUnit& u, int64_t s0, KvGroup<D>& g) {
    constexpr int kS = D / 32;
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int i = 0; i < kAttnKeys<D>; ++i) {
        const int64_t key = min(s0 + i, u.s_end - 1);
        load_dims<kS>(L.k_cache, a.cache_dtype, key * a.k_seq + u.kvh * D + lane * kS, g.k[i]);
        load_dims<kS>(L.v_cache, a.cache_dtype, key * a.v_seq + u.kvh * D + lane * kS, g.v[i]);
    }
}

// The new key's k and v dims of this lane (the row this step wrote, which the early copies of
// attention_prefetch could not hold).
template <int D>
__device__ __forceinline__ void new_key_early(const DecodeLayersArgs& a,
                                              const DecodeLayerPointers& L, const AttnUnit& u,
                                              int64_t position, float (&k)[D / 32],
                                              float (&v)[D / 32]) {
    constexpr int kS = D / 32;
    const int lane = threadIdx.x & 31;
    load_dims<kS>(L.k_cache, a.cache_dtype, position * a.k_seq + u.kvh * D + lane * kS, k);
    load_dims<kS>(L.v_cache, a.cache_dtype, position * a.v_seq + u.kvh * D + lane * kS, v);
}

// Attention's early keys: each warp's first kv_groups() groups of a block's first unit, k and v,
// in shared memory (up to kKvStageBudget bytes; 3 groups of bf16 keys at head size 64 cover
// 2,592 keys of context when every block takes a unit).
constexpr int64_t kKvStageBudget = 96 * 1024;
__host__ __device__ inline int64_t kv_group_bytes(int64_t hs, DType cache) {
    const int64_t keys = hs == 64 ? 8 : 4;  // kAttnKeys
    return kKeyWarps * keys * hs * 2 * (cache == DType::F32 ? 4 : 2);
}
__host__ __device__ inline int kv_groups(int64_t hs, DType cache) {
    const int64_t n = kKvStageBudget / kv_group_bytes(hs, cache);
    return static_cast<int>(n < 1 ? 1 : n);
}
__host__ __device__ inline int64_t kv_stage_bytes(int64_t hs, DType cache) {
    return kv_groups(hs, cache) * kv_group_bytes(hs, cache);
}

// One lane's kS elements of a cache row, copied into shared memory without passing through
// registers (cp.async): nothing waits for them until attention reads them.
template <int kS>
__device__ __forceinline__ void copy_dims_async(void* dst, const void* base, DType dt, int64_t at) {
    const int bytes = kS * (dt == DType::F32 ? 4 : 2);
    const char* src = static_cast<const char*>(base) + at * (dt == DType::F32 ? 4 : 2);
    const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    if (bytes == 4)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d), "l"(src) : "memory");
    else if (bytes == 8)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(d), "l"(src) : "memory");
    else
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
}
// And read back (after cp.async.wait_all) as floats.
template <int kS>
__device__ __forceinline__ void read_dims(const void* at, DType dt, float (&v)[kS]) {
#pragma unroll
    for (int j = 0; j < kS; ++j) {
        if (dt == DType::F32)
            v[j] = static_cast<const float*>(at)[j];
        else if (dt == DType::F16)
            v[j] = __half2float(static_cast<const __half*>(at)[j]);
        else
            v[j] = __bfloat162float(static_cast<const __nv_bfloat16*>(at)[j]);
    }
}
// Where lane's dims of key i (k: which 0, v: 1) of the warp's group g sit in `stage`.
template <int D>
__device__ __forceinline__ char* staged_key(char* stage, DType dt, int g, int i, int which) {
    constexpr int kS = D / 32;
    const int es = dt == DType::F32 ? 4 : 2, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    return stage +
           (((((g * kKeyWarps + warp) * kAttnKeys<D> + i) * 2 + which) * 32 + lane) * kS) * es;
}

// Between the halves of the barrier that ends the q/k/v phase: the block's first unit, each
// warp's first kv_groups() groups, every key but the one this step writes (the others are in
// the cache already), copied into shared memory: their DRAM latency overlaps the wait, and
// attention after it computes without waiting on DRAM. Not in the barrier's warp.
template <int D>
__device__ __forceinline__ void attention_prefetch(const DecodeLayersArgs& a,
                                                   const DecodeLayerPointers& L, int splits,
                                                   int64_t keys, int64_t position, char* stage) {
    constexpr int kS = D / 32;
    if (blockIdx.x >= a.nh * splits || is_barrier_warp()) return;
    const AttnUnit u = attn_unit(a, blockIdx.x, splits, keys);
    const int lane = threadIdx.x & 31, groups = kv_groups(D, a.cache_dtype);
    const int64_t d = u.kvh * D + lane * kS;
    for (int g = 0; g < groups; ++g) {
        const int64_t s0 = u.s_begin + (g * kKeyWarps + (threadIdx.x >> 5)) * kAttnKeys<D>;
        if (s0 >= u.s_end) return;
#pragma unroll
        for (int i = 0; i < kAttnKeys<D>; ++i) {
            const int64_t key = min(s0 + i, u.s_end - 1);
            if (key == position) continue;
            copy_dims_async<kS>(staged_key<D>(stage, a.cache_dtype, g, i, 0), L.k_cache,
                                a.cache_dtype, key * a.k_seq + d);
            copy_dims_async<kS>(staged_key<D>(stage, a.cache_dtype, g, i, 1), L.v_cache,
                                a.cache_dtype, key * a.v_seq + d);
        }
    }
}

// The SIMT attention (f32 caches; decode_attention_mma.cuh takes 16-bit ones): one block per
// (q head, key split) over keys [0, keys): its warps take kAttnKeys keys at a time, merge in
// shared memory, and write the split's partial (max, sum, output), or with one split the output
// (store_partial). `stage`: the early keys of the block's first unit (attention_prefetch); the new
// key is read here.
template <int D>
__device__ void attention_phase(const DecodeLayersArgs& a, const DecodeLayerPointers& L,
                                const Scratch& s, int splits, int stride_splits, int64_t keys,
                                int64_t position, char* stage, float* wo /* (kWarps, D) shared */,
                                int layer, int blocks) {
    constexpr int kS = D / 32, kKeys = kAttnKeys<D>;
    __shared__ float wm[kWarps], wl[kWarps];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t unit = blockIdx.x; unit < a.nh * splits; unit += blocks) {
        const AttnUnit u = attn_unit(a, unit, splits, keys);
        float q[kS], acc[kS];
#pragma unroll
        for (int j = 0; j < kS; ++j) {
            q[j] = __ldcg(s.q + u.h * D + lane * kS + j);
            acc[j] = 0.0f;
        }
        DECODE_MARK(layer, 20);
        float m = -INFINITY, l = 0.0f;
        // Groups of the block's first unit came early (attention_prefetch), but the new key.
        const int staged = unit == blockIdx.x ? kv_groups(D, a.cache_dtype) : 0;
        // The new key's load goes out with q's, not after the copies' wait: one round trip to
        // L2 fewer on the path (0.4-0.8 us a layer, dev/NOTES.md).
        float new_k[kS], new_v[kS];
        if (staged && position >= u.s_begin && position < u.s_end)
            new_key_early<D>(a, L, u, position, new_k, new_v);
        if (staged) asm volatile("cp.async.wait_all;" ::: "memory");
        DECODE_MARK(layer, 21);
        KvGroup<D> pre;
        int g = 0;
        const int64_t first_key = is_barrier_warp() ? u.s_end : u.s_begin + warp * kKeys;
        for (int64_t s0 = first_key; s0 < u.s_end; s0 += kKeyWarps * kKeys, ++g) {
            if (g < staged) {
#pragma unroll
                for (int i = 0; i < kKeys; ++i) {
                    read_dims<kS>(staged_key<D>(stage, a.cache_dtype, g, i, 0), a.cache_dtype,
                                  pre.k[i]);
                    read_dims<kS>(staged_key<D>(stage, a.cache_dtype, g, i, 1), a.cache_dtype,
                                  pre.v[i]);
                }
#pragma unroll
                for (int i = 0; i < kKeys; ++i) {
                    if (min(s0 + i, u.s_end - 1) != position) continue;
#pragma unroll
                    for (int j = 0; j < kS; ++j) pre.k[i][j] = new_k[j], pre.v[i][j] = new_v[j];
                }
            } else {
                load_group<D>(a, L, u, s0, pre);
            }
            DECODE_MARK(layer, 22);
            float x[kKeys];
            float mx = -INFINITY;
#pragma unroll
            for (int i = 0; i < kKeys; ++i) {
                float dot = 0.0f;
#pragma unroll
                for (int j = 0; j < kS; ++j) dot = fmaf(q[j], pre.k[i][j], dot);
                x[i] = s0 + i < u.s_end ? warp_sum(dot) * a.scale : -INFINITY;
                mx = fmaxf(mx, x[i]);
            }
            const float m_new = fmaxf(m, mx), corr = rescale(m, m_new);
            l *= corr;
#pragma unroll
            for (int j = 0; j < kS; ++j) acc[j] *= corr;
#pragma unroll
            for (int i = 0; i < kKeys; ++i) {
                const float p = x[i] == -INFINITY ? 0.0f : expf(x[i] - m_new);
                l += p;
#pragma unroll
                for (int j = 0; j < kS; ++j) acc[j] = fmaf(p, pre.v[i][j], acc[j]);
            }
            m = m_new;
        }
        DECODE_MARK(layer, 23);
        if (lane == 0) {
            wm[warp] = m;
            wl[warp] = l;
        }
#pragma unroll
        for (int j = 0; j < kS; ++j) wo[warp * D + lane * kS + j] = acc[j];
        __syncthreads();
        DECODE_MARK(layer, 24);
        if (threadIdx.x < D) {
            float mx = -INFINITY;
            for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, wm[w]);
            float o = 0.0f, sum = 0.0f;
            for (int w = 0; w < kWarps; ++w) {
                const float g = rescale(wm[w], mx);
                o += g * wo[w * D + threadIdx.x];
                sum += g * wl[w];
            }
            store_partial(s, splits, u.h * stride_splits + u.split, u.h * D + threadIdx.x,
                          threadIdx.x, D, mx, sum, o);
        }
        __syncthreads();  // wm/wo are reused by the next unit
    }
}

// With more than one key split a head, a phase of its own after attention: the heads' outputs
// (NH HS) shared out over the blocks; each combines its outputs' splits from the partials (max,
// sum, output), every value loaded at once into `room` (shared memory, `room_floats`), and writes
// them by store(index, value) (to `att`, or handed over: decode_handoff.cuh). fetch(head, split,
// dim, room) puts the partial's max, sum and output element in room[0..2] (from the scratch's
// partials, or handed over). With one split the attention phase writes the outputs itself.
template <typename Fetch, typename Store>
__device__ __forceinline__ void combine_splits(const DecodeLayersArgs& a, int splits, int blocks,
                                               float* room, int room_floats, Fetch fetch,
                                               Store store) {
    const int hs = static_cast<int>(a.hs);
    const Plan p = plan_for(a.nh * a.hs, blocks);
    const int batch = max(1, room_floats / (3 * splits));  // outputs combined from one round trip
    for (int64_t lo = p.lo; lo < p.hi; lo += batch) {
        const int count = static_cast<int>(min(static_cast<int64_t>(batch), p.hi - lo));
        for (int i = threadIdx.x; i < count * splits; i += kThreads) {
            const int64_t out = lo + i / splits;
            fetch(out / hs, i % splits, out % hs, room + 3 * i);
        }
        __syncthreads();
        for (int j = threadIdx.x; j < count; j += kThreads) {
            const float* v = room + 3 * j * splits;
            float m = -INFINITY;
            for (int k = 0; k < splits; ++k) m = fmaxf(m, v[3 * k]);
            float sum = 0.0f, o = 0.0f;
            for (int k = 0; k < splits; ++k) {
                const float f = rescale(v[3 * k], m);
                sum += f * v[3 * k + 1];
                o += f * v[3 * k + 2];
            }
            store(lo + j, sum > 0.0f ? o / sum : 0.0f);
        }
        __syncthreads();
    }
}

// xs = the heads' attention outputs (`att`, f32 written in this launch) rounded to T.
template <typename T>
__device__ __forceinline__ void stage_attention(T* xs, const float* att, int64_t n) {
    const float4* from = reinterpret_cast<const float4*>(att);
    for (int64_t i = threadIdx.x; i < n / 4; i += kThreads) {
        const float4 v = __ldcg(from + i);
        xs[4 * i] = from_float<T>(v.x), xs[4 * i + 1] = from_float<T>(v.y);
        xs[4 * i + 2] = from_float<T>(v.z), xs[4 * i + 3] = from_float<T>(v.w);
    }
    __syncthreads();
}

}  // namespace ferris::cuda::decode
