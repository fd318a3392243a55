// The persistent decode kernel: one block a multiprocessor runs, layer after layer,
//   1. q/k/v: x RMS-normalized and staged; the stacked product, bias, rope, cache writes (the
//      epilogue of the QkvRope GEMV, gemv_kernel.cuh)
//   2. attention: on tensor cores a block per (kv head, key split), all the group's q heads at
//      once (decode_attention_mma.cuh); for f32 caches a block per (q head, key split); with one
//      split the heads' outputs, else partials per split, and
//   2b. (more than one split) the splits combined, the outputs shared out over the blocks
//   3. o: the outputs staged, x += W_o a
//   4. gate/up: x normalized and staged, h = silu(W_g x) * (W_u x)
//   5. down: h staged, x += W_d h
// and, for a whole greedy step, x taken from the token's embedding row first and, after the
// layers, the LM head's logits and their argmax (decode_head.cuh); with a grid barrier after
// each phase instead of a kernel boundary. Each block owns a contiguous share of each product's
// rows, streamed from global memory into registers by teams of threads, as the GEMV does. The
// barrier is split: between its arrival and its wait a block already issues the first weight
// loads of its next share and, before attention, the loads of the past keys, so their latency
// overlaps the wait. Data written in the launch by other blocks (x, q, h, the partials, the new
// cache row) is read with ld.global.cg, past the non-coherent L1.
// On tensor cores three of the barriers are not needed: q/k/v hands q and the new key to
// attention, attention hands its partials to the combine and its outputs (or the combine's) to o,
// in words that carry a flag beside each value (decode_handoff.cuh). A reader waits for the
// values themselves, one round trip to L2 where a barrier and a load took two. Hand-offs of x
// (after o and after down), which every block reads, measured slower (dev/NOTES.md).
// The last few blocks compute nothing: they prefetch the weights into L2 ahead of the phases
// (decode_prefetch.cuh). Measured variants, kept out (dev/NOTES.md): weights brought into shared
// memory by bulk copies (TMA), or prefetched into L2 by the compute blocks themselves. A
// multiprocessor's bulk requests queue ahead of its own later loads, so every latency-bound step
// (staging, attention, the barrier's spin) waited.
#include <algorithm>
#include <climits>
#include <cstdlib>

#include "backends/cuda/check.h"
#include "backends/cuda/decode_attention_mma.cuh"
#include "backends/cuda/decode_handoff.cuh"
#include "backends/cuda/decode_head.cuh"
#include "backends/cuda/decode_layers.cuh"
#include "backends/cuda/decode_layers_parts.cuh"
#include "backends/cuda/decode_prefetch.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

using namespace decode;

constexpr int64_t kMinKeysPerSplit = 64;
// Attention on tensor cores, a block per (kv head, split) (decode_attention_mma.cuh), for 16-bit
// caches and up to 8 q heads a kv head; 0 for the SIMT attention, a block per (q head, split), in
// every case (lab A/B). Its splits take at least kMmaKeysPerSplit keys.
#ifndef FERRIS_DECODE_ATTN_MMA
#define FERRIS_DECODE_ATTN_MMA 1
#endif
#ifndef FERRIS_DECODE_MMA_KEYS_PER_SPLIT
#define FERRIS_DECODE_MMA_KEYS_PER_SPLIT 128
#endif
constexpr int64_t kMmaKeysPerSplit = FERRIS_DECODE_MMA_KEYS_PER_SPLIT;
// With a combine phase, o's first loads go out before it rather than after (lab A/B: 0).
#ifndef FERRIS_DECODE_O_EARLY
#define FERRIS_DECODE_O_EARLY 1
#endif
constexpr bool kPreloadOEarly = FERRIS_DECODE_O_EARLY;
constexpr int kMaxSplits = 32;  // key splits a head at most
static_assert(kMaxSplits <= kHandOffSplits, "the hand-off's partials need room for every split");
// Dynamic shared memory the kernel may take (x staged in T, the block's rows of x, early keys).
constexpr int64_t kMaxSmemBytes = 160 * 1024;

__host__ __device__ inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
__host__ __device__ inline bool attention_by_mma(const DecodeLayersArgs& a) {
    return FERRIS_DECODE_ATTN_MMA &&
           (a.cache_dtype == DType::BF16 || a.cache_dtype == DType::F16) &&
           a.nh / a.nkv <= kMmaGroupMax;
}
// Key splits a head at most: the units (a q head's or, on tensor cores, a kv head's splits) fill
// the blocks once.
__host__ __device__ inline int max_splits(const DecodeLayersArgs& a, int64_t blocks) {
    const int64_t n = blocks / (attention_by_mma(a) ? a.nkv : a.nh);
    return static_cast<int>(n < 1 ? 1 : n > kMaxSplits ? kMaxSplits : n);
}

// The dynamic shared memory layout, the same on host and device.
struct Layout {
    int64_t xs_bytes;    // the staged product input (in T); also attention's (warps, HS) merge area
    int64_t own_floats;  // the block's rows of x (its share of o and down), kept across phases
    int64_t kv_bytes;    // attention's early keys (kv_stage_bytes)
    int64_t splits;      // key splits a head at most
    __host__ __device__ int64_t total_bytes() const { return xs_bytes + 4 * own_floats + kv_bytes; }
};
__host__ __device__ inline Layout layout_of(const DecodeLayersArgs& a, int64_t blocks) {
    const int64_t w = 2;  // bf16 / f16
    Layout l;
    int64_t xs = (a.c > a.inter ? a.c : a.inter) * w;
    if (a.nh * a.hs * w > xs) xs = a.nh * a.hs * w;
    if (kWarps * a.hs * 4 > xs) xs = kWarps * a.hs * 4;
    if (mma_q_bytes(a.hs) > xs) xs = mma_q_bytes(a.hs);  // q of the tensor-core attention
    l.xs_bytes = round_up(xs, 16);
    l.own_floats = round_up(share_of(a.c, blocks), 4);
    l.kv_bytes = attention_by_mma(a) ? kKvStageBudget : kv_stage_bytes(a.hs, a.cache_dtype);
    l.splits = max_splits(a, blocks);
    return l;
}

// Key splits a head for `keys` keys (the same in every block, prefetch blocks included).
__host__ __device__ inline int key_splits(const DecodeLayersArgs& a, int64_t keys,
                                          int stride_splits) {
    const int64_t wanted = keys / (attention_by_mma(a) ? kMmaKeysPerSplit : kMinKeysPerSplit);
    return wanted < 1 ? 1 : wanted > stride_splits ? stride_splits : static_cast<int>(wanted);
}

// The handed-off values' words (decode_handoff.cuh): q, the new k and v rows, the outputs, the
// partials.
__host__ __device__ inline int64_t handoff_words(const DecodeLayersArgs& a) {
    return decode::handoff_words(a.nh, a.nkv, a.hs);
}
// Floats of the scratch's start that a launch which is not scratch_clean zeroes.
__host__ __device__ inline int64_t zeroed_floats(const DecodeLayersArgs& a) {
    return kScratchHeader + round_up(2 * handoff_words(a), 4);
}

__device__ __forceinline__ Scratch scratch_of(const DecodeLayersArgs& a, int splits) {
    Scratch s;
    s.barrier = reinterpret_cast<unsigned*>(a.scratch) + kBarrierWord;
    s.q = a.scratch + zeroed_floats(a);
    s.att = s.q + round_up(a.nh * a.hs, 4);
    s.h = s.att + round_up(a.nh * a.hs, 4);
    s.part_ml = s.h + round_up(a.inter, 4);
    s.part_o = s.part_ml + round_up(a.nh * splits * 2, 4);
    return s;
}

// One block's part of the launch (returns when the block is done).
// C: the tensor-core attention's 16-bit type (the cache's), or float for the SIMT attention; one
// attention a kernel (both in one kernel spilled registers).
template <typename T, int D, typename C>
__device__ __forceinline__ void decode_block(const DecodeLayersArgs& a) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ float red[32];
    __shared__ float team_part[2][kWarps];
    const int blocks = static_cast<int>(gridDim.x) - a.prefetch_blocks;  // compute blocks
    const Layout lay = layout_of(a, blocks);
    T* xs = reinterpret_cast<T*>(smem);
    float* x_own = reinterpret_cast<float*>(smem + lay.xs_bytes);
    char* kv_stage = reinterpret_cast<char*>(smem + lay.xs_bytes + 4 * lay.own_floats);
    const int stride_splits = static_cast<int>(lay.splits);
    const Scratch s = scratch_of(a, stride_splits);
    const int64_t keys = *a.keys, position = *a.position;
    // Splits a head; with more than one, a phase combines them (6 phases a layer, else 5; with
    // hand-offs 3 of them run on into the next).
    const int splits = key_splits(a, keys, stride_splits);
    // On tensor cores, q/k/v hands q and the new key to attention without a barrier, attention
    // its partials to the combine and its outputs (or the combine's) to o (decode_handoff.cuh).
    constexpr bool kMma = !std::is_same_v<C, float>;
    constexpr bool kHandOff = kMma;
    if (static_cast<int>(blockIdx.x) >= blocks)
        return prefetch_weights(a, s.barrier, blocks, static_cast<int>(blockIdx.x) - blocks,
                                LayerPhases{splits > 1, kHandOff});
    const unsigned epoch = launch_epoch(a.scratch);
    // The layer's hand-offs, with the flag of layer l.
    auto handoff = [&](int l) {
        return handoff_at(reinterpret_cast<HandOffWord*>(a.scratch + kScratchHeader), a.nh, a.nkv,
                          D, handoff_flag(epoch, l));
    };
    // h in T: the down product would round it to T when staging anyway, and half the bytes cross
    // from L2 to every block (dev/NOTES.md).
    T* h = reinterpret_cast<T*>(s.h);

    unsigned target = 0;
    // Keys a staging round of the tensor-core attention holds (a constant: no register).
    constexpr int64_t stage_keys = mma_stage_keys(D, kKvStageBudget);
    const int64_t c = a.c, inter = a.inter, in_o = a.nh * a.hs;
    const Plan qkv_plan = plan_for((a.nh + 2 * a.nkv) * D / 2, blocks),
               o_plan = plan_for(c, blocks);
    const Plan gu_plan = plan_for(inter, blocks), down_plan = plan_for(c, blocks);
    // A greedy step starts from the token's embedding row (the previous launch wrote the token;
    // this one overwrites it only after every block has finished reading it).
    const T* embed_row = nullptr;
    if (a.token) {
        const int64_t t = *a.token;
        embed_row = static_cast<const T*>(a.embed) + (t < 0 ? 0 : min(t, a.embed_rows - 1)) * c;
    }

    GemvParams rope_params;  // for gemv_detail::rope_store
    rope_params.rope.q_out = s.q;
    rope_params.rope.cache_dtype = a.cache_dtype;
    rope_params.rope.k_seq = a.k_seq;
    rope_params.rope.v_seq = a.v_seq;
    rope_params.rope.positions = a.position;
    rope_params.rope.inv_freq = a.inv_freq;
    rope_params.rope.nh = a.nh;
    rope_params.rope.nkv = a.nkv;
    rope_params.rope.hs = D;

    // An item's rows: j indexes the block's share of the product.
    const DecodeLayerPointers* layer = &a.layers[0];
    auto row = [](const void* w, int64_t r, int64_t in) {
        return reinterpret_cast<const uint4*>(static_cast<const T*>(w) + r * in);
    };
    auto qkv_rows = [&](int64_t j) {  // the row pair (i, i + HS/2) that rope rotates together
        const int64_t item = qkv_plan.lo + j, r = (item / (D / 2)) * D + item % (D / 2);
        return Rows{row(layer->qkv, r, c), row(layer->qkv, r + D / 2, c)};
    };
    auto o_rows = [&](int64_t j) { return Rows{row(layer->o, o_plan.lo + j, in_o), nullptr}; };
    auto gu_rows = [&](int64_t j) {
        return Rows{row(layer->gate, gu_plan.lo + j, c), row(layer->up, gu_plan.lo + j, c)};
    };
    auto down_rows = [&](int64_t j) {
        return Rows{row(layer->down, down_plan.lo + j, inter), nullptr};
    };
    // o and down share one plan: the block owns those rows of x, kept in shared memory.
    for (int64_t j = threadIdx.x; j < o_plan.count(); j += kThreads)
        x_own[j] = embed_row ? to_float(embed_row[o_plan.lo + j]) : a.x[o_plan.lo + j];
    auto add_to_x = [&](int64_t j, float dot, float) {
        x_own[j] += dot;
        __stcg(a.x + o_plan.lo + j, x_own[j]);
    };

    Loads w;
    NormWeights nw;
    preload<true>(qkv_plan, c, qkv_rows, w);
    load_norm(a.layers[0].attn_norm, c, nw);
    for (int l = 0; l < a.n_layers; ++l) {
        layer = &a.layers[l];
        const DecodeLayerPointers& L = *layer;
        // 1. q/k/v, rope, the cache writes
        DECODE_MARK(l, 0);
        if (l == 0 && embed_row) {
            stage<T>(xs, embed_row, c, nw, a.eps, red);
        } else {
            stage<T>(xs, a.x, c, nw, a.eps, red);
        }
        DECODE_MARK(l, 1);
        rope_params.bias = L.qkv_bias;
        rope_params.rope.k_cache = L.k_cache;
        rope_params.rope.v_cache = L.v_cache;
        products<T, true>(
            qkv_plan, c, xs, qkv_rows,
            [&](int64_t j, float dot, float dot2) {
                if constexpr (kHandOff) {
                    qkv_handoff_store<C>(rope_params.rope, L.qkv_bias, qkv_plan.lo + j, dot, dot2,
                                         handoff(l));
                } else {
                    gemv_detail::rope_store(rope_params, qkv_plan.lo + j, 0, dot, dot2);
                }
            },
            team_part, w);
        DECODE_MARK(l, 2);
        if constexpr (kHandOff) {
            __syncthreads();  // xs is read: attention's q takes its place
        } else {
            grid_arrive(s.barrier, target, blocks);
        }
        if constexpr (kMma) {
            attention_prefetch_mma<D>(a, L, splits, keys, position, kv_stage, stage_keys);
        } else {
            attention_prefetch<D>(a, L, splits, keys, position, kv_stage);
        }
        if constexpr (!kHandOff) grid_wait(s.barrier, target, blocks);
        // 2. attention (xs holds q for the tensor cores, or the SIMT warps' merge)
        DECODE_MARK(l, 3);
        if constexpr (kMma) {
            attention_phase_mma<C, D>(a, L, handoff(l), splits, keys, position, kv_stage,
                                      stage_keys, reinterpret_cast<char*>(xs), l, blocks);
        } else {
            attention_phase<D>(a, L, s, splits, stride_splits, keys, position, kv_stage,
                               reinterpret_cast<float*>(xs), l, blocks);
        }
        DECODE_MARK(l, 4);
        if (splits > 1) {  // 2b. the splits combined, the blocks sharing the outputs
            if constexpr (!kHandOff) grid_arrive(s.barrier, target, blocks);
            if (kPreloadOEarly) preload<false>(o_plan, in_o, o_rows, w);
            if constexpr (!kHandOff) grid_wait(s.barrier, target, blocks);
            combine_splits(
                a, splits, blocks, reinterpret_cast<float*>(kv_stage),
                static_cast<int>(lay.kv_bytes / 4),
                [&](int64_t h, int split, int64_t d, float* room) {
                    if constexpr (kHandOff) {
                        fetch_partial(handoff(l), D, h, split, d, room);
                    } else {
                        const int64_t at = h * stride_splits + split;
                        room[0] = __ldcg(s.part_ml + at * 2);
                        room[1] = __ldcg(s.part_ml + at * 2 + 1);
                        room[2] = __ldcg(s.part_o + at * D + d);
                    }
                },
                [&](int64_t i, float v) {
                    if constexpr (kHandOff) {
                        handoff_put(handoff(l).att + i, v, handoff(l).flag);
                    } else {
                        __stcg(s.att + i, v);
                    }
                });
        }
        if constexpr (kHandOff) {
            if (splits == 1 || !kPreloadOEarly) preload<false>(o_plan, in_o, o_rows, w);
        } else {
            grid_arrive(s.barrier, target, blocks);
            if (splits == 1 || !kPreloadOEarly) preload<false>(o_plan, in_o, o_rows, w);
            grid_wait(s.barrier, target, blocks);
        }
        // 3. x += W_o a
        DECODE_MARK(l, 5);
        if constexpr (kHandOff) {
            stage_attention_handoff<T>(xs, handoff(l).att, in_o, handoff(l).flag);
        } else {
            stage_attention<T>(xs, s.att, in_o);
        }
        DECODE_MARK(l, 6);
        products<T, false>(o_plan, in_o, xs, o_rows, add_to_x, team_part, w);
        DECODE_MARK(l, 7);
        grid_arrive(s.barrier, target, blocks);
        preload<true>(gu_plan, c, gu_rows, w);
        load_norm(L.mlp_norm, c, nw);
        grid_wait(s.barrier, target, blocks);
        // 4. h = silu(W_g x) * (W_u x) of the normalized x
        DECODE_MARK(l, 8);
        stage<T>(xs, a.x, c, nw, a.eps, red);
        DECODE_MARK(l, 9);
        products<T, true>(
            gu_plan, c, xs, gu_rows,
            [&](int64_t j, float g, float u) {
                __stcg(h + gu_plan.lo + j, from_float<T>(g / (1.0f + expf(-g)) * u));
            },
            team_part, w);
        DECODE_MARK(l, 10);
        grid_arrive(s.barrier, target, blocks);
        preload<false>(down_plan, inter, down_rows, w);
        grid_wait(s.barrier, target, blocks);
        // 5. x += W_d h
        DECODE_MARK(l, 11);
        stage_copy<T>(xs, h, inter);
        DECODE_MARK(l, 12);
        products<T, false>(down_plan, inter, xs, down_rows, add_to_x, team_part, w);
        DECODE_MARK(l, 13);
        if (l + 1 < a.n_layers) {
            grid_arrive(s.barrier, target, blocks);
            layer = &a.layers[l + 1];
            preload<true>(qkv_plan, c, qkv_rows, w);
            load_norm(layer->attn_norm, c, nw);
            grid_wait(s.barrier, target, blocks);
        }
    }
    if (!a.token) return;
    // 6. a greedy step's end: the LM head's rows in pairs (a dual product keeps twice the loads in
    // flight), against x normalized by the final norm; each block's best logit, then the argmax.
    Plan head_plan = plan_for((a.vocab + 1) / 2, blocks);
    head_plan.team = kHeadTeam;
    HeadLoads hw;
    auto head_rows = [&](int64_t j) {
        const int64_t r = 2 * (head_plan.lo + j);
        return Rows{row(a.lm_head, r, c), row(a.lm_head, min(r + 1, a.vocab - 1), c)};
    };
    grid_arrive(s.barrier, target, blocks);
    preload<true>(head_plan, c, head_rows, hw);
    load_norm(a.final_norm, c, nw);
    grid_wait(s.barrier, target, blocks);
    stage<T>(xs, a.x, c, nw, a.eps, red);
    DECODE_HEAD_MARK(0);
    float best = -INFINITY;
    int best_row = INT_MAX;
    auto consider = [&](int64_t r, float v) {
        if (r >= a.vocab) return;
        if (a.logits) a.logits[r] = v;
        if (better(v, static_cast<int>(r), best, best_row)) {
            best = v;
            best_row = static_cast<int>(r);
        }
    };
    products<T, true>(
        head_plan, c, xs, head_rows,
        [&](int64_t j, float d0, float d1) {
            const int64_t r = 2 * (head_plan.lo + j);
            consider(r, d0);
            consider(r + 1, d1);
        },
        team_part, hw);
    DECODE_HEAD_MARK(1);
    finish_argmax(best, best_row, a.scratch, blocks, a.token);
}

template <typename T, int D, typename C>
__global__ void __launch_bounds__(kThreads, 1)
    decode_layers_kernel(const __grid_constant__ DecodeLayersArgs a) {
    decode_block<T, D, C>(a);
    leave_launch(a.scratch);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Blocks given to prefetching the weights into L2 (decode_prefetch.cuh): 6 of the H100's 132
// measured best (4: slower than none; 8 to 16: fewer compute blocks lose more, dev/NOTES.md).
constexpr int kPrefetchBlocks = 6;

// The arguments with the prefetch blocks settled for a card of `sms` multiprocessors.
DecodeLayersArgs with_prefetch(const DecodeLayersArgs& args, int sms) {
    DecodeLayersArgs a = args;
    if (a.prefetch_blocks < 0) {
        static const char* env = std::getenv("FERRIS_CUDA_PREFETCH_BLOCKS");  // for A/B runs
        a.prefetch_blocks = env ? std::atoi(env) : kPrefetchBlocks;
    }
    a.prefetch_blocks = std::clamp(a.prefetch_blocks, 0, sms / 2);
    // The prefetch blocks wait until a tensor ends within `ahead` of the phase being computed:
    // at least the largest phase's weights (gate and up), or they would wait for ever.
    const WeightStream st = weight_stream(a);
    a.prefetch_ahead = std::max(
        {a.prefetch_ahead, st.bytes[0], st.bytes[1], st.bytes[2] + st.bytes[3], st.bytes[4]});
    return a;
}

template <typename T, int D, typename C>
void launch(const DecodeLayersArgs& args, cudaStream_t stream) {
    const auto kernel = decode_layers_kernel<T, D, C>;
    const int blocks = sm_count();
    const DecodeLayersArgs a = with_prefetch(args, blocks);
    const size_t smem = static_cast<size_t>(layout_of(a, blocks - a.prefetch_blocks).total_bytes());
    if (smem > 48 * 1024)
        FERRIS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem)));
    if (resident_blocks(kernel, kThreads, smem) < 1)
        fail(ErrorCode::Unsupported, "[decoder_layers] cuda: the persistent kernel does not fit");
    // A scratch a launch already used is clean: its last block to leave zeroed the header, and the
    // handed-off words carry older flags.
    if (!a.scratch_clean)
        FERRIS_CUDA_CHECK(cudaMemsetAsync(
            a.scratch, 0, static_cast<size_t>(zeroed_floats(a)) * sizeof(float), stream));
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>(blocks));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    cudaLaunchAttribute attribute = {};
    attribute.id = cudaLaunchAttributeCooperative;  // every block resident: the barriers need it
    attribute.val.cooperative = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    check_cuda(cudaLaunchKernelEx(&config, kernel, a), "decode_layers_kernel", __FILE__, __LINE__);
}

// The kernel with the attention the arguments take.
template <typename T, int D>
void by_attention(const DecodeLayersArgs& a, cudaStream_t stream) {
    if (!attention_by_mma(a)) return launch<T, D, float>(a, stream);
    if (a.cache_dtype == DType::BF16) return launch<T, D, __nv_bfloat16>(a, stream);
    return launch<T, D, __half>(a, stream);
}

int compute_major() {
    int device = 0, major = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    FERRIS_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    return major;
}

}  // namespace

bool decode_layers_applies(const DecodeLayersArgs& a) {
    if (compute_major() < 8) return false;
    if (a.n_layers < 1 || a.n_layers > kDecodeMaxLayers) return false;
    if (a.weight_dtype != DType::BF16 && a.weight_dtype != DType::F16) return false;
    if (a.hs != 64 && a.hs != 128) return false;
    if (a.nh < 1 || a.nkv < 1 || a.nh % a.nkv != 0) return false;
    if (a.c % 8 != 0 || a.inter % 8 != 0 || a.c < 8 || a.inter < 8) return false;
    if (a.k_seq % 4 != 0 || a.v_seq % 4 != 0) return false;
    if (a.c > kStageRegs * kThreads) return false;  // stage() holds x in registers
    const int sms = sm_count();
    const Layout lay = layout_of(a, sms - with_prefetch(a, sms).prefetch_blocks);
    if (lay.total_bytes() > kMaxSmemBytes) return false;
    if (!aligned16(a.x)) return false;
    if (a.token && (a.vocab < 1 || a.vocab >= INT_MAX || a.embed_rows < 1 || !a.final_norm ||
                    !aligned16(a.lm_head) || !aligned16(a.embed)))
        return false;
    for (int l = 0; l < a.n_layers; ++l) {
        const DecodeLayerPointers& p = a.layers[l];
        const void* pointers[] = {p.qkv, p.o, p.gate, p.up, p.down, p.k_cache, p.v_cache};
        for (const void* w : pointers)
            if (!aligned16(w)) return false;
    }
    return true;
}

size_t decode_layers_scratch_floats(const DecodeLayersArgs& a) {
    const int64_t splits = max_splits(a, sm_count());
    return static_cast<size_t>(zeroed_floats(a) + 2 * round_up(a.nh * a.hs, 4) +
                               round_up(a.inter, 4) + round_up(a.nh * splits * 2, 4) +
                               a.nh * splits * a.hs);
}

size_t decode_layers_handoff_words(const DecodeLayersArgs& a) {
    return static_cast<size_t>(handoff_words(a));
}

void decode_layers(const DecodeLayersArgs& a, cudaStream_t stream) {
    const bool bf16 = a.weight_dtype == DType::BF16;
    if (a.hs == 64)
        return bf16 ? by_attention<__nv_bfloat16, 64>(a, stream)
                    : by_attention<__half, 64>(a, stream);
    return bf16 ? by_attention<__nv_bfloat16, 128>(a, stream)
                : by_attention<__half, 128>(a, stream);
}

}  // namespace ferris::cuda
