// The persistent decode kernel's prefetch blocks (decode_layers.cu). The last blocks of the launch
// take no share of any product and never arrive at a barrier: they walk the layers' weights in the
// order the phases read them and bring each tensor into L2 before its phase, at most `ahead` bytes
// past the start of the phase the compute blocks are in (the barrier word says which). The compute
// blocks then stream their weights from L2, and DRAM works ahead during the latency-bound parts of
// a layer (stagings, barriers, attention), when it would otherwise idle. On their own
// multiprocessors the prefetches cannot queue ahead of a compute block's loads. Measured
// (dev/NOTES.md): 6 blocks 32 MB ahead took the 0.5B model's layers from 686 to 649 us on an
// H100; prefetches by the compute blocks themselves, bulk prefetches and 256-byte-fetch loads
// lost.
#pragma once

#include "backends/cuda/decode_layers.cuh"
#include "backends/cuda/decode_layers_parts.cuh"

namespace ferris::cuda::decode {

// A layer's weight tensors in the order its phases read them: q/k/v, o, gate, up, down.
constexpr int kStreamItems = 5;

// A layer's phases, one grid barrier after each: q/k/v, attention, [the splits' combine,] o,
// gate/up, down. With hand-offs (decode_handoff.cuh) q/k/v runs on into attention, attention into
// the combine and on into o: one phase. Attention, the combine and o read no weights before o's:
// the "middle" phases.
struct LayerPhases {
    bool combine, handoff;
    __host__ __device__ int middle() const { return handoff ? 0 : 2 + combine; }
    // Barriers before the layer's down phase starts.
    __host__ __device__ int before_down() const { return middle() + 2; }
    // Barriers a layer (the last one's after down is the LM head's, or none).
    __host__ __device__ int count() const { return before_down() + 1; }
};

struct WeightStream {
    int64_t bytes[kStreamItems];
    int64_t layer_bytes;
    // Bytes of the stream before the phase that follows the layers' `phase`-th barrier (a merged
    // phase counts from its first part).
    __device__ __forceinline__ int64_t phase_offset(int64_t phase, const LayerPhases& lp) const {
        const int64_t per = lp.count(), ph = phase % per;
        int64_t at = (phase / per) * layer_bytes;
        if (ph >= 1) at += bytes[0];                            // the middle phases, or after
        if (ph >= lp.middle() + 1) at += bytes[1];              // gate/up
        if (ph >= lp.before_down()) at += bytes[2] + bytes[3];  // down
        return at;
    }
};

__host__ __device__ inline WeightStream weight_stream(const DecodeLayersArgs& a) {
    const int64_t w = 2;  // bf16 / f16
    WeightStream s;
    s.bytes[0] = (a.nh + 2 * a.nkv) * a.hs * a.c * w;
    s.bytes[1] = a.c * a.nh * a.hs * w;
    s.bytes[2] = s.bytes[3] = a.inter * a.c * w;
    s.bytes[4] = a.c * a.inter * w;
    s.layer_bytes = s.bytes[0] + s.bytes[1] + s.bytes[2] + s.bytes[3] + s.bytes[4];
    return s;
}

__device__ __forceinline__ const char* stream_item(const DecodeLayerPointers& L, int item) {
    const void* p = item == 0   ? L.qkv
                    : item == 1 ? L.o
                    : item == 2 ? L.gate
                    : item == 3 ? L.up
                                : L.down;
    return static_cast<const char*>(p);
}

// Runs on block `pb` of `a.prefetch_blocks`; `blocks`: the compute blocks that arrive at `word`;
// `lp`: the layers' phases.
__device__ void prefetch_weights(const DecodeLayersArgs& a, const unsigned* word, int blocks,
                                 int pb, const LayerPhases& lp) {
    const WeightStream st = weight_stream(a);
    const int64_t issuers = static_cast<int64_t>(a.prefetch_blocks) * kThreads;
    const int64_t me = static_cast<int64_t>(pb) * kThreads + threadIdx.x;
    int64_t end = 0;  // the stream's bytes through the current item
    for (int l = 0; l < a.n_layers; ++l) {
        for (int item = 0; item < kStreamItems; ++item) {
            end += st.bytes[item];
            if (threadIdx.x == 0) {
                // Wait until the compute blocks' phase starts within `ahead` bytes of its end.
                for (;;) {
                    unsigned seen;
                    asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];"
                                 : "=r"(seen)
                                 : "l"(word)
                                 : "memory");
                    if (st.phase_offset(seen / blocks, lp) + a.prefetch_ahead >= end) break;
                    __nanosleep(256);
                }
            }
            __syncthreads();
            // A prefetch a 128-byte line, the lines dealt round the prefetch blocks' threads.
            const char* base = stream_item(a.layers[l], item);
            for (int64_t at = me * 128; at < st.bytes[item]; at += issuers * 128)
                asm volatile("prefetch.global.L2 [%0];" ::"l"(base + at));
            __syncthreads();
        }
    }
    if (!a.token) return;
    // A greedy step's LM head: the compute blocks each stream their own share of its rows (in
    // pairs), so the first bytes of every share are brought in, as much as fits what is left of
    // the window once the last layer's down phase starts.
    const int64_t lead_total = a.prefetch_ahead - st.bytes[4];
    if (lead_total <= 0) return;
    if (threadIdx.x == 0) {
        for (;;) {
            unsigned seen;
            asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(word) : "memory");
            const int down_starts = lp.count() * (a.n_layers - 1) + lp.before_down();
            if (seen / blocks >= static_cast<unsigned>(down_starts)) break;
            __nanosleep(256);
        }
    }
    __syncthreads();
    const int64_t row_bytes = a.c * 2, share_rows = 2 * share_of((a.vocab + 1) / 2, blocks);
    const int64_t lead_lines = min(share_rows * row_bytes, lead_total / blocks) / 128;
    const char* head = static_cast<const char*>(a.lm_head);
    for (int64_t k = me; k < lead_lines * blocks; k += issuers) {
        const int64_t at = (k / lead_lines) * share_rows * row_bytes + (k % lead_lines) * 128;
        if (at < a.vocab * row_bytes) asm volatile("prefetch.global.L2 [%0];" ::"l"(head + at));
    }
}

}  // namespace ferris::cuda::decode
