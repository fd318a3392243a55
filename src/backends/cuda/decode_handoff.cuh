// Values handed from the blocks that produce them to the blocks that need them inside the
// persistent decode kernel (decode_layers.cu) without a grid barrier: each value travels in a
// 64-bit word with a flag beside it (the low half the value's bits, the high half the flag),
// written and read as one single-copy-atomic access. A reader spins on the words themselves until
// every flag is the one expected, so the data arrives together with its readiness: one round trip
// to L2 where a barrier took two (the arrival's atomic and spin, then the load). Flags are unique
// to (launch, layer): the launch's epoch (a header word the last block to leave increments) times
// kDecodeMaxLayers plus the layer plus one, and the words start as zero (the memset that starts a
// fresh scratch clears them), so a stale word never passes. Device code only.
#pragma once

#include <cstdint>

#include "backends/cuda/decode_layers.cuh"
#include "backends/cuda/decode_layers_parts.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/gemv_kernel.cuh"

namespace ferris::cuda::decode {

using HandOffWord = unsigned long long;

// The flag the words of `layer` carry in a launch of `epoch`.
__device__ __forceinline__ unsigned handoff_flag(unsigned epoch, int layer) {
    return epoch * static_cast<unsigned>(kDecodeMaxLayers) + static_cast<unsigned>(layer) + 1u;
}

__device__ __forceinline__ void handoff_put(HandOffWord* at, float v, unsigned flag) {
    const HandOffWord word = (static_cast<HandOffWord>(flag) << 32) | __float_as_uint(v);
    asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" ::"l"(at), "l"(word) : "memory");
}
__device__ __forceinline__ HandOffWord handoff_load(const HandOffWord* at) {
    HandOffWord word;
    asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(word) : "l"(at) : "memory");
    return word;
}
__device__ __forceinline__ bool handoff_ready(HandOffWord word, unsigned flag) {
    return static_cast<unsigned>(word >> 32) == flag;
}
__device__ __forceinline__ float handoff_value(HandOffWord word) {
    return __uint_as_float(static_cast<unsigned>(word));
}
// Nanoseconds a block that waits on a broadcast hand-off (every block reads the words) sleeps
// between its polls, so that the polls of all blocks do not crowd L2 (lab A/B).
#ifndef FERRIS_DECODE_POLL_SLEEP
#define FERRIS_DECODE_POLL_SLEEP 128
#endif
__device__ __forceinline__ void poll_pause() {
    if constexpr (FERRIS_DECODE_POLL_SLEEP > 0) __nanosleep(FERRIS_DECODE_POLL_SLEEP);
}

// Two values, both loads in flight before either is waited for.
template <bool kPause = false>
__device__ __forceinline__ float2 handoff_get2(const HandOffWord* a, const HandOffWord* b,
                                               unsigned flag) {
    HandOffWord wa = handoff_load(a), wb = handoff_load(b);
    while (!handoff_ready(wa, flag) || !handoff_ready(wb, flag)) {
        if (kPause) poll_pause();
        wa = handoff_load(a);
        wb = handoff_load(b);
    }
    return make_float2(handoff_value(wa), handoff_value(wb));
}

// A layer's hand-offs: q/k/v's results to attention (the q heads, NH HS, and the new key's k and v
// rows, NKV HS each, as the cache holds them: rounded to its type); the key splits' partials to
// the combine (at (q head, split): max and sum in part_ml, the output in part_o; kHandOffSplits
// splits a head); attention's outputs (NH HS, from the attention blocks or the combine) to the o
// phase of every block.
constexpr int kHandOffSplits = 32;
struct HandOff {
    HandOffWord *q, *k, *v, *att, *part_ml, *part_o;
    unsigned flag;
};
// The words a layout of NH q heads and NKV kv heads of HS takes (the scratch's room for them).
__host__ __device__ inline int64_t handoff_words(int64_t nh, int64_t nkv, int64_t hs) {
    return (2 * nh + 2 * nkv) * hs + nh * kHandOffSplits * (hs + 2);
}
// (Made where it is used, from the launch's constant parameters: a struct of pointers kept live
// across the layers would hold registers the products need.)
__device__ __forceinline__ HandOff handoff_at(HandOffWord* words, int64_t nh, int64_t nkv,
                                              int64_t hs, unsigned flag) {
    HandOffWord* part_ml = words + (2 * nh + 2 * nkv) * hs;
    return HandOff{words,
                   words + nh * hs,
                   words + (nh + nkv) * hs,
                   words + (nh + 2 * nkv) * hs,
                   part_ml,
                   part_ml + nh * kHandOffSplits * 2,
                   flag};
}

// A split's partial for the combine (combine_splits' fetch): max, sum and output element d of q
// head h's split `split`, waited for together.
__device__ __forceinline__ void fetch_partial(const HandOff& ho, int64_t hs, int64_t h, int split,
                                              int64_t d, float* room) {
    const int64_t at = h * kHandOffSplits + split;
    const HandOffWord *m = ho.part_ml + 2 * at, *o = ho.part_o + at * hs + d;
    HandOffWord wm = handoff_load(m), ws = handoff_load(m + 1), wo = handoff_load(o);
    while (!handoff_ready(wm, ho.flag) || !handoff_ready(ws, ho.flag) ||
           !handoff_ready(wo, ho.flag)) {
        poll_pause();
        wm = handoff_load(m), ws = handoff_load(m + 1), wo = handoff_load(o);
    }
    room[0] = handoff_value(wm), room[1] = handoff_value(ws), room[2] = handoff_value(wo);
}

// xs = the n attention outputs handed over (n even), rounded to T, as stage_attention does.
template <typename T>
__device__ __forceinline__ void stage_attention_handoff(T* xs, const HandOffWord* att, int64_t n,
                                                        unsigned flag) {
    for (int64_t i = threadIdx.x; i < n / 2; i += kThreads) {
        const float2 v = handoff_get2<true>(att + 2 * i, att + 2 * i + 1, flag);
        xs[2 * i] = from_float<T>(v.x), xs[2 * i + 1] = from_float<T>(v.y);
    }
    __syncthreads();
}

// Elements i and i + HS/2 of kv head kvh's new row: rounded to the cache's type C, written to the
// cache row `pos` (rows `seq` elements apart) for later steps, and handed over.
template <typename C>
__device__ __forceinline__ void kv_handoff_store(void* cache, int64_t seq, HandOffWord* words,
                                                 const GemvRope& g, int64_t kvh, int64_t i,
                                                 int32_t pos, float lo, float hi, unsigned flag) {
    const int64_t half = g.hs / 2;
    const C lo_c = from_float<C>(lo), hi_c = from_float<C>(hi);
    C* row = static_cast<C*>(cache) + pos * seq + kvh * g.hs + i;
    row[0] = lo_c;
    row[half] = hi_c;
    handoff_put(words + kvh * g.hs + i, to_float(lo_c), flag);
    handoff_put(words + kvh * g.hs + i + half, to_float(hi_c), flag);
}

// The q/k/v product's epilogue for item `item` (gemv_detail::rope_pair: bias, rope), with the
// cache row written for later steps and the values handed to attention. C: the cache's type.
template <typename C>
__device__ __forceinline__ void qkv_handoff_store(const GemvRope& g, const float* bias,
                                                  int64_t item, float a, float b,
                                                  const HandOff& out) {
    const gemv_detail::RopedPair p = gemv_detail::rope_pair(g, bias, item, 0, a, b);
    if (p.head >= g.nh + g.nkv)
        return kv_handoff_store<C>(g.v_cache, g.v_seq, out.v, g, p.head - g.nh - g.nkv, p.i, p.pos,
                                   p.lo, p.hi, out.flag);
    if (p.head >= g.nh)
        return kv_handoff_store<C>(g.k_cache, g.k_seq, out.k, g, p.head - g.nh, p.i, p.pos, p.lo,
                                   p.hi, out.flag);
    handoff_put(out.q + p.head * g.hs + p.i, p.lo, out.flag);
    handoff_put(out.q + p.head * g.hs + p.i + g.hs / 2, p.hi, out.flag);
}

}  // namespace ferris::cuda::decode
