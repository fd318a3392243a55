// The persistent decode kernel's attention on tensor cores (decode_layers.cu): a block per (kv
// head, key split) takes every q head of the kv head's group at once, so each key's k and v cross
// from L2 once a split instead of once a q head. The split's keys are staged in shared memory by
// 16-byte cp.async (the first round while q/k/v's results are awaited), each warp takes tiles of
// 16 keys: S = Q K^T and O += P V by mma.sync m16n8k16 with f32 accumulators. The group's heads
// fill rows 0-7 of the 16-row A operand; rows 8-15 carry the rounding rest of the same values
// (q - round(q), p - round(p)), so scores and outputs keep about f32 precision although the
// products run in the cache's 16-bit type. q and the new key come in, and the outputs or the
// partials per (q head, split) go out, as hand-offs (decode_handoff.cuh); the partials are
// combined by combine_splits (decode_layers_parts.cuh), as the SIMT attention's. Device code only.
#pragma once

#include "backends/cuda/decode_handoff.cuh"
#include "backends/cuda/decode_layers_parts.cuh"
#include "backends/cuda/mma.cuh"

namespace ferris::cuda::decode {

constexpr int kMmaGroupMax = 8;  // q heads a kv head: the A operand's rows 0-7
constexpr int kMmaTile = 16;     // keys a warp takes at once

// Keys one staging round holds: the k and v rows of one kv head in `bytes` of shared memory.
__host__ __device__ constexpr int64_t mma_stage_keys(int64_t hs, int64_t bytes) {
    return bytes / (2 * hs * 2) / kMmaTile * kMmaTile;
}
// Shared memory q takes (two 16-row matrices of HS 16-bit values).
__host__ __device__ constexpr int64_t mma_q_bytes(int64_t hs) { return 2 * 16 * hs * 2; }
// Shared memory the warps' merge takes (each warp's max, sum and output for the group's heads).
__host__ __device__ constexpr int64_t mma_merge_bytes(int64_t hs) {
    return kKeyWarps * kMmaGroupMax * (hs + 2) * 4;
}
// The merge takes the staging area's place once the keys are read (head sizes 64 and 128).
static_assert(mma_merge_bytes(128) <= kKvStageBudget, "the warps' merge must fit the key stage");

// Where block `unit`'s keys are: (kv head, split) -> the key range.
struct MmaUnit {
    int kvh, split;
    int64_t s_begin, s_end;
};
__device__ __forceinline__ MmaUnit mma_unit(int unit, int splits, int64_t keys) {
    const int64_t chunk = (keys + splits - 1) / splits;
    MmaUnit u;
    u.kvh = unit / splits, u.split = unit % splits;
    u.s_begin = u.split * chunk, u.s_end = min(keys, u.s_begin + chunk);
    return u;
}

// A 16-byte chunk `ch` of staged row `r` (k rows first, then v rows at `cap` rows on): the chunks
// of a row are permuted by the row's low bits, so that ldmatrix's eight rows of one chunk column
// fall in different banks.
template <int D>
__device__ __forceinline__ char* staged_chunk(char* stage, int64_t cap, int which, int r, int ch) {
    return stage + (which * cap + r) * (D * 2) + ((ch ^ (r & 7)) << 4);
}

// Copies keys [k0, k0 + n) of kv head kvh, k and v, into staged rows row0.. (cp.async, 16 bytes a
// copy), by the block's threads below `threads`; the key `skip` is left out (its row is written in
// this launch, read after the barrier). Rows from row0 + n up to `pad_to` are zeroed: a tile's
// keys past the end get no weight, and 0 times a stale value (merge floats read as 16-bit pairs
// can be NaN) must stay 0.
template <int D>
__device__ __forceinline__ void stage_keys_async(const DecodeLayersArgs& a,
                                                 const DecodeLayerPointers& L, int kvh, int64_t k0,
                                                 int n, int64_t skip, char* stage, int64_t cap,
                                                 int row0, int pad_to, int threads) {
    constexpr int kChunks = D / 8;
    const int rows = max(n, pad_to - row0), total = 2 * rows * kChunks;
    for (int i = threadIdx.x; i < total; i += threads) {
        const int which = i >= rows * kChunks;
        const int rest = i - which * rows * kChunks;
        const int r = rest / kChunks, ch = rest % kChunks;
        char* dst = staged_chunk<D>(stage, cap, which, row0 + r, ch);
        if (r >= n) {
            *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
            continue;
        }
        if (k0 + r == skip) continue;
        const void* base = which ? L.v_cache : L.k_cache;
        const int64_t seq = which ? a.v_seq : a.k_seq;
        const char* src = static_cast<const char*>(base) + ((k0 + r) * seq + kvh * D + ch * 8) * 2;
        const auto d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
    }
}
__host__ __device__ inline int round_to_tile(int64_t n) {
    return static_cast<int>((n + kMmaTile - 1) / kMmaTile * kMmaTile);
}

// Between the halves of the barrier before attention: the first round of the block's first unit
// (every key but the one this step writes). Not in the barrier's warp.
template <int D>
__device__ __forceinline__ void attention_prefetch_mma(const DecodeLayersArgs& a,
                                                       const DecodeLayerPointers& L, int splits,
                                                       int64_t keys, int64_t position, char* stage,
                                                       int64_t cap) {
    if (static_cast<int>(blockIdx.x) >= a.nkv * splits || is_barrier_warp()) return;
    const MmaUnit u = mma_unit(blockIdx.x, splits, keys);
    const int n = static_cast<int>(min(cap, u.s_end - u.s_begin));
    stage_keys_async<D>(a, L, u.kvh, u.s_begin, n, position, stage, cap, 0, round_to_tile(n),
                        kKeyWarps * 32);
}

// Two values as three 16-bit pairs whose sum is them to about f32 precision: rounded to C, what
// that left out rounded, and what both left out.
template <typename C>
__device__ __forceinline__ float2 unpack2(uint32_t v) {
    if constexpr (std::is_same_v<C, __nv_bfloat16>) {
        const __nv_bfloat162 b = *reinterpret_cast<const __nv_bfloat162*>(&v);
        return make_float2(__low2float(b), __high2float(b));
    } else {
        const __half2 h = *reinterpret_cast<const __half2*>(&v);
        return make_float2(__low2float(h), __high2float(h));
    }
}
template <typename C>
__device__ __forceinline__ void split3(float x0, float x1, uint32_t& hi, uint32_t& lo,
                                       uint32_t& rest) {
    hi = pack2<C>(x0, x1);
    const float2 h = unpack2<C>(hi);
    x0 -= h.x, x1 -= h.y;
    lo = pack2<C>(x0, x1);
    const float2 l = unpack2<C>(lo);
    rest = pack2<C>(x0 - l.x, x1 - l.y);
}

// Pair `i` (< HS) of the new key's row, k then v, from q/k/v's hand-off into staged row `r` (the
// values are the cache's, so the 16-bit pair is exact).
template <typename C, int D>
__device__ __forceinline__ void stage_new_key_pair(const HandOff& ho, int kvh, char* stage,
                                                   int64_t cap, int r, int i) {
    const int which = i / (D / 2), d = 2 * (i % (D / 2));
    const HandOffWord* src = (which ? ho.v : ho.k) + kvh * D + d;
    const float2 v = handoff_get2(src, src + 1, ho.flag);
    *reinterpret_cast<uint32_t*>(staged_chunk<D>(stage, cap, which, r, d / 8) + (d % 8) * 2) =
        pack2<C>(v.x, v.y);
}

// One block per (kv head, key split) over keys [0, keys): partials (max, sum, output) for each of
// the group's q heads at (q head, split). Keys beyond one round of `cap` are staged in further
// rounds after the first. `qs`: shared memory for q (two 16-row matrices of D 16-bit values). q
// and the new key's row come from q/k/v's hand-off (`ho`), not from memory behind a barrier, and
// the outputs (one split) or the partials go out the same way.
//   S (heads x keys) = Q K^T: A = [q rounded; the rest] and [the rest's rest; 0], so that rows g
//   and g + 8 of S both belong to head g (their sum is its score); B = K from ldmatrix.
//   O^T (dims x heads) = V^T P^T: A = V^T from ldmatrix.trans, B = P^T, whose fragment is the
//   layout of S's accumulator (head g, keys 2t, 2t + 1), in three 16-bit parts: O^T's
//   accumulator is half the registers of O's (16 rows of heads, 8 of them rests).
template <typename C, int D>
__device__ void attention_phase_mma(const DecodeLayersArgs& a, const DecodeLayerPointers& L,
                                    const HandOff& ho, int splits, int64_t keys, int64_t position,
                                    char* stage, int64_t cap, char* qs, int layer, int blocks) {
    constexpr int kSteps = D / 16;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int group = static_cast<int>(a.nh / a.nkv);
    char* qs2 = qs + mma_q_bytes(D) / 2;
    float* wm = reinterpret_cast<float*>(stage);  // merge area: (warp, head) max, sum, output
    float* wl = wm + kKeyWarps * kMmaGroupMax;
    float* wo = wl + kKeyWarps * kMmaGroupMax;
    __shared__ float head_m[kMmaGroupMax], head_sum[kMmaGroupMax];
    for (int unit = blockIdx.x; unit < a.nkv * splits; unit += blocks) {
        const MmaUnit u = mma_unit(unit, splits, keys);
        // The row this step wrote, when the block's early first round needs it, waited for
        // together with q.
        const bool new_early = unit == static_cast<int>(blockIdx.x) && position >= u.s_begin &&
                               position < u.s_begin + min(cap, u.s_end - u.s_begin);
        // The group's q heads scaled into base 2 (rows past the group zero), in three parts.
        constexpr int kQPairs = kMmaGroupMax * D / 2;
        for (int i = threadIdx.x; i < kQPairs + (new_early ? D : 0); i += kThreads) {
            if (i >= kQPairs) {
                stage_new_key_pair<C, D>(ho, u.kvh, stage, cap,
                                         static_cast<int>(position - u.s_begin), i - kQPairs);
                continue;
            }
            const int h = i / (D / 2), d = 2 * (i % (D / 2));
            float2 v = make_float2(0.0f, 0.0f);
            if (h < group) {
                const HandOffWord* at = ho.q + (u.kvh * group + h) * D + d;
                v = handoff_get2(at, at + 1, ho.flag);
            }
            const float sc = a.scale * kLog2e;
            uint32_t part[3];
            split3<C>(v.x * sc, v.y * sc, part[0], part[1], part[2]);
            const int at = (d % 8) * 2;
            *reinterpret_cast<uint32_t*>(staged_chunk<D>(qs, 0, 0, h, d / 8) + at) = part[0];
            *reinterpret_cast<uint32_t*>(staged_chunk<D>(qs, 0, 0, h + 8, d / 8) + at) = part[1];
            *reinterpret_cast<uint32_t*>(staged_chunk<D>(qs2, 0, 0, h, d / 8) + at) = part[2];
            *reinterpret_cast<uint32_t*>(staged_chunk<D>(qs2, 0, 0, h + 8, d / 8) + at) = 0u;
        }
        DECODE_MARK(layer, 20);
        float m = -INFINITY, l = 0.0f, o[kSteps][4];  // o: O^T, dims 16 i + g (+ 8), heads 2t (+ 1)
#pragma unroll
        for (int i = 0; i < kSteps; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
        for (int64_t r0 = u.s_begin; r0 < u.s_end; r0 += cap) {
            const int n = static_cast<int>(min(cap, u.s_end - r0));
            const bool staged = unit == static_cast<int>(blockIdx.x) && r0 == u.s_begin;
            if (!staged) {
                __syncthreads();  // the previous round's rows (or merge) are read
                stage_keys_async<D>(a, L, u.kvh, r0, n, position, stage, cap, 0, round_to_tile(n),
                                    kThreads);
                if (position >= r0 && position < r0 + n)
                    for (int i = threadIdx.x; i < D; i += kThreads)
                        stage_new_key_pair<C, D>(ho, u.kvh, stage, cap,
                                                 static_cast<int>(position - r0), i);
            }
            asm volatile("cp.async.wait_all;" ::: "memory");
            __syncthreads();
            DECODE_MARK(layer, 21);
            const int tiles = round_to_tile(n) / kMmaTile;
            for (int tile = is_barrier_warp() ? tiles : warp; tile < tiles; tile += kKeyWarps) {
                const int tb = tile * kMmaTile;
                float sc[2][4] = {};
#pragma unroll 1
                for (int k = 0; k < kSteps; k += 2) {
                    uint32_t qa[2][4], qr[2][4];
                    const int qrow = (lane & 7) + 8 * ((lane >> 3) & 1);
#pragma unroll
                    for (int q = 0; q < 2; ++q) {
                        const int ch = 2 * (k + q) + (lane >> 4);
                        ldmatrix_x4<false>(qa[q], staged_chunk<D>(qs, 0, 0, qrow, ch));
                        ldmatrix_x4<false>(qr[q], staged_chunk<D>(qs2, 0, 0, qrow, ch));
                    }
#pragma unroll
                    for (int j = 0; j < 2; ++j) {
                        uint32_t kb[4];
                        const int r = tb + 8 * j + (lane & 7);
                        ldmatrix_x4<false>(kb,
                                           staged_chunk<D>(stage, cap, 0, r, 2 * k + (lane >> 3)));
                        mma16816<C>(sc[j], qa[0], kb[0], kb[1]);
                        mma16816<C>(sc[j], qa[1], kb[2], kb[3]);
                        mma16816<C>(sc[j], qr[0], kb[0], kb[1]);
                        mma16816<C>(sc[j], qr[1], kb[2], kb[3]);
                    }
                }
                // Scores of head g for keys tb + 8j + 2t + e: row g plus row g + 8.
                float x[2][2], mx = -INFINITY;
#pragma unroll
                for (int j = 0; j < 2; ++j) {
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        x[j][e] = tb + 8 * j + 2 * t + e < n ? sc[j][e] + sc[j][2 + e] : -INFINITY;
                        mx = fmaxf(mx, x[j][e]);
                    }
                }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m, mx), corr = exp2f(m - m_new);
                m = m_new;
                // P^T's fragments (keys 2t, 2t + 1 and 8 + 2t, 9 + 2t of head g), three parts each.
                uint32_t pb[2][3];
                float sum = 0.0f;
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    const float p0 = exp2f(x[j][0] - m_new), p1 = exp2f(x[j][1] - m_new);
                    sum += p0 + p1;
                    split3<C>(p0, p1, pb[j][0], pb[j][1], pb[j][2]);
                }
                l = l * corr + sum;
                // O^T's columns are heads 2t and 2t + 1: their rescale from the lanes of those
                // rows.
                const float c0 = __shfl_sync(0xffffffffu, corr, 8 * t),
                            c1 = __shfl_sync(0xffffffffu, corr, 8 * t + 4);
#pragma unroll
                for (int i = 0; i < kSteps; ++i) {
                    o[i][0] *= c0, o[i][1] *= c1, o[i][2] *= c0, o[i][3] *= c1;
                    uint32_t va[4];
                    const int r = tb + (lane & 7) + 8 * (lane >> 4);
                    ldmatrix_x4<true>(va,
                                      staged_chunk<D>(stage, cap, 1, r, 2 * i + ((lane >> 3) & 1)));
#pragma unroll
                    for (int part = 0; part < 3; ++part)
                        mma16816<C>(o[i], va, pb[0][part], pb[1][part]);
                }
            }
        }
        DECODE_MARK(layer, 23);
        // The warp's sum of head g over its keys: the four lanes of row g hold parts of it.
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        __syncthreads();  // the staged rows are read: the merge area takes their place
        if (warp < kKeyWarps) {
            if (t == 0) wm[warp * kMmaGroupMax + g] = m, wl[warp * kMmaGroupMax + g] = l;
            float* out = wo + (warp * kMmaGroupMax + 2 * t) * D;
#pragma unroll
            for (int i = 0; i < kSteps; ++i) {
                out[16 * i + g] = o[i][0], out[D + 16 * i + g] = o[i][1];
                out[16 * i + g + 8] = o[i][2], out[D + 16 * i + g + 8] = o[i][3];
            }
        }
        __syncthreads();
        DECODE_MARK(layer, 24);
        // Each head's max and sum over the warps, and each warp's weight (in place of its max).
        if (threadIdx.x < kMmaGroupMax) {
            const int h = threadIdx.x;
            float mx = -INFINITY, sum = 0.0f;
            for (int w = 0; w < kKeyWarps; ++w) mx = fmaxf(mx, wm[w * kMmaGroupMax + h]);
            for (int w = 0; w < kKeyWarps; ++w) {
                const float wmh = wm[w * kMmaGroupMax + h];
                const float f = wmh == -INFINITY ? 0.0f : exp2f(wmh - mx);
                wm[w * kMmaGroupMax + h] = f;
                sum += f * wl[w * kMmaGroupMax + h];
            }
            head_m[h] = mx, head_sum[h] = sum;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < group * D; i += kThreads) {
            const int h = i / D, d = i % D;
            float out = 0.0f;
            for (int w = 0; w < kKeyWarps; ++w)
                out += wm[w * kMmaGroupMax + h] * wo[(w * kMmaGroupMax + h) * D + d];
            const int64_t head = u.kvh * group + h;
            if (splits == 1) {  // the output
                const float sum = head_sum[h];
                handoff_put(ho.att + head * D + d, sum > 0.0f ? out / sum : 0.0f, ho.flag);
                continue;
            }
            // The partial, the max in natural log as the SIMT attention's.
            const int64_t at = head * kHandOffSplits + u.split;
            handoff_put(ho.part_o + at * D + d, out, ho.flag);
            if (d == 0) {
                handoff_put(ho.part_ml + 2 * at, head_m[h] * (1.0f / kLog2e), ho.flag);
                handoff_put(ho.part_ml + 2 * at + 1, head_sum[h], ho.flag);
            }
        }
        __syncthreads();  // the merge area is read before the next unit stages
    }
}

}  // namespace ferris::cuda::decode
