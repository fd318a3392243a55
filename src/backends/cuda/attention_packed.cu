// Encoder attention over packed sequences (AttentionMask::segments, not causal), on tensor cores,
// tiled by sequence: a block is up to 64 query rows of one sequence and one head, and streams
// only that sequence's keys and values, 64 at a time, through two shared-memory stages
// (cp.async), so that the next tile loads while this one is multiplied. The general kernel
// (attention_tc.cu) tiles the packed rows as they come, and a 64-row block there spans two or three
// sequences of typical embedding inputs (tens of tokens), so each warp walked two to three times
// the keys it sees. MPNet's relative bias is staged in shared memory once per block, in base-2
// units; only the last tile of a sequence is masked.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/attention.cuh"
#include "backends/cuda/attention_tc_tile.cuh"
#include "backends/cuda/check.h"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

static_assert(kTcRows == kPackedRows, "the host's tile list (packed_tiles) counts blocks of these");

template <int D>
constexpr size_t packed_tile_bytes() {  // Q, then two stages of K and V, in 16-bit elements
    return sizeof(uint16_t) * (kTcRows + 4 * kTcKeys) * (D + 8);
}

// Block (x, y): head y, and chunk x / n_segments of sequence x % n_segments (its query rows
// [64 * chunk, + 64)), or with a tile list its entry x ({sequence begin, end, chunk, 0}: the
// bounds come with the entry, one load instead of two dependent ones). Chunk-major, so the blocks
// past a sequence's end, which return at once, come after every live one when sequences are sorted
// longest first (as the encoders do); a tile list (AttentionMask::host_segments) has none.
// At most 128 registers a thread for heads up to 64 wide: four blocks a multiprocessor. (Eight
// warps and 128 rows a block, one staged tile for twice the rows, measured slower: 60 against
// 53 us a call, mean over 1,000 docs of all-mpnet-base-v2, H200.)
template <typename T, int D, bool kBias>
__global__ void __launch_bounds__(kTcThreads, D <= 64 ? 4 : 1)
    packed_attention_kernel(AttentionArgs a) {
    pdl_begin();  // launched with launch_dependent: waits for the kernel before (q, k, v)
    constexpr int kStride = TcWarpRows<T, D>::kStride;
    constexpr int kRowCopies = D / 8;                      // 16-byte copies a row
    constexpr int kRowsPerPass = kTcThreads / kRowCopies;  // rows one pass of the block copies
    extern __shared__ uint4 packed_smem[];
    int seq_begin, seq_end, chunk;
    if (a.tiles) {
        const int4 entry = reinterpret_cast<const int4*>(a.tiles)[blockIdx.x];
        seq_begin = entry.x, seq_end = entry.y, chunk = entry.z;
    } else {
        const int seq = static_cast<int>(blockIdx.x % a.n_segments);
        chunk = static_cast<int>(blockIdx.x / a.n_segments);
        seq_begin = a.segments[seq], seq_end = a.segments[seq + 1];
    }
    const int r_begin = seq_begin + chunk * kTcRows;
    if (r_begin >= seq_end) return;
    const int rows = min(kTcRows, seq_end - r_begin), keys = seq_end - seq_begin;
    const int tiles = (keys + kTcKeys - 1) / kTcKeys;
    const int h = static_cast<int>(blockIdx.y), kvh = h / static_cast<int>(a.nh / a.nkv);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

    T* qs = reinterpret_cast<T*>(packed_smem);  // (kTcRows, kStride)
    T* ks = qs + kTcRows * kStride;             // 2 x (kTcKeys, kStride)
    T* vs = ks + 2 * kTcKeys * kStride;         // 2 x (kTcKeys, kStride)
    // bias2[i]: the bias of local key kl and local row rl at i = kl - rl + rows - 1, times log2 e
    float* bias2 = reinterpret_cast<float*>(vs + 2 * kTcKeys * kStride);

    // This thread's copies: row copy_row (+ kRowsPerPass per pass), column copy_col.
    const int copy_row = threadIdx.x / kRowCopies, copy_col = threadIdx.x % kRowCopies * 8;
    const T* q = static_cast<const T*>(a.q) + int64_t{r_begin} * a.q_seq + h * D + copy_col;
    const T* k = static_cast<const T*>(a.k) + int64_t{seq_begin} * a.k_seq + kvh * D + copy_col;
    const T* v = static_cast<const T*>(a.v) + int64_t{seq_begin} * a.v_seq + kvh * D + copy_col;
#pragma unroll
    for (int r = copy_row; r < kTcRows; r += kRowsPerPass)
        cp_async16(qs + r * kStride + copy_col, r < rows ? q + r * a.q_seq : q, r < rows);
    auto stage = [&](int tile) {  // keys past the sequence are zeros (a NaN there would leak)
        const int off = (tile & 1) * kTcKeys * kStride + copy_col;
        const int k0 = tile * kTcKeys;
#pragma unroll
        for (int j = copy_row; j < kTcKeys; j += kRowsPerPass) {
            const bool ok = k0 + j < keys;
            cp_async16(ks + off + j * kStride, ok ? k + (k0 + j) * a.k_seq : k, ok);
            cp_async16(vs + off + j * kStride, ok ? v + (k0 + j) * a.v_seq : v, ok);
        }
        cp_async_commit();
    };
    stage(0);  // with Q: one group
    if (kBias) {
        // Distances s - t = kl - rl - chunk * 64, from -(rows - 1) - chunk * 64 up.
        const float* row = a.bias + int64_t{h} * a.bias_width + (a.bias_width + 1) / 2 - 1 -
                           (rows - 1) - chunk * kTcRows;
        for (int i = threadIdx.x; i < keys + rows - 1; i += kTcThreads) bias2[i] = row[i] * kLog2e;
    }
    if (tiles > 1) stage(1);

    // This lane's two rows (local), clamped into the block's rows: a dead row computes a live
    // one's values and stores nothing.
    const int quad_row = lane >> 2, quad_col = (lane & 3) * 2;
    const int rl0 = warp * 16 + quad_row, rl1 = rl0 + 8;
    const bool warp_live = warp * 16 < rows;
    // bias2 index of this lane's first key in a tile at 0, for each row: when row 1 is live it is
    // row 0's index - 8, so row 1's biases are row 0's one 8-key group later.
    const int i0 = rows - 1 - min(rl0, rows - 1) + quad_col;
    const int i1 = rows - 1 - min(rl1, rows - 1) + quad_col;
    const float scale2 = a.scale * kLog2e;
    TcWarpRows<T, D> acc;
    for (int tile = 0; tile < tiles; ++tile) {
        if (tile + 1 < tiles) {
            if (tile > 0) stage(tile + 1);  // into the stage tile - 1 used
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (warp_live) {
            if (tile == 0) acc.start(qs + warp * 16 * kStride, lane);
            const int buf = (tile & 1) * kTcKeys * kStride;
            float sc[8][4];
            acc.scores(sc, ks + buf, lane);
            const int k0 = tile * kTcKeys;
            if (k0 + kTcKeys <= keys && (!kBias || i1 == i0 - 8)) {  // no key masked
                float b0[8][2], b1[2];  // row 1 at group n is row 0 at group n - 1
#pragma unroll
                for (int n = 0; n < 8; ++n)
#pragma unroll
                    for (int e = 0; e < 2; ++e) b0[n][e] = kBias ? bias2[i0 + k0 + n * 8 + e] : 0;
#pragma unroll
                for (int e = 0; e < 2; ++e) b1[e] = kBias ? bias2[i1 + k0 + e] : 0;
#pragma unroll
                for (int n = 0; n < 8; ++n)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        sc[n][e] = fmaf(sc[n][e], scale2, b0[n][e]);
                        sc[n][2 + e] = fmaf(sc[n][2 + e], scale2, n == 0 ? b1[e] : b0[n - 1][e]);
                    }
            } else {
#pragma unroll
                for (int n = 0; n < 8; ++n)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int kt = n * 8 + e;  // the key's offset from this lane's first
                        const bool seen = k0 + kt + quad_col < keys;
                        const float b0 = kBias && seen ? bias2[i0 + k0 + kt] : 0.0f;
                        const float b1 = kBias && seen ? bias2[i1 + k0 + kt] : 0.0f;
                        sc[n][e] = seen ? fmaf(sc[n][e], scale2, b0) : -INFINITY;
                        sc[n][2 + e] = seen ? fmaf(sc[n][2 + e], scale2, b1) : -INFINITY;
                    }
            }
            acc.template accumulate<true>(sc, vs + buf, lane);  // every row sees key 0
        }
        __syncthreads();  // this stage is consumed before tile + 2 is staged into it
    }
    if (!warp_live) return;
    T* out = static_cast<T*>(a.out) + (int64_t{r_begin} * a.nh + h) * D;
    const int64_t row_pitch = a.nh * D;
    acc.store(rl0 < rows ? out + rl0 * row_pitch : nullptr,
              rl1 < rows ? out + rl1 * row_pitch : nullptr, lane);
}

template <typename T, int D, bool kBias>
void launch_packed(const AttentionArgs& a, cudaStream_t stream) {
    const int64_t chunks = (a.longest_segment + kTcRows - 1) / kTcRows;
    const size_t bias_bytes = kBias ? sizeof(float) * (a.longest_segment + kTcRows - 1) : 0;
    const size_t smem = packed_tile_bytes<D>() + bias_bytes;
    auto kernel = packed_attention_kernel<T, D, kBias>;
    if (smem > 48 * 1024)  // per device, so on every launch (it is cheap)
        FERRIS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>(a.tiles ? a.n_tiles : a.n_segments * chunks),
                    static_cast<unsigned>(a.nh));
    launch_dependent("packed_attention_kernel", kernel, grid, dim3(kTcThreads), smem, stream, a);
}

template <typename T, int D>
void launch_packed_bias(const AttentionArgs& a, cudaStream_t stream) {
    if (a.bias) {
        launch_packed<T, D, true>(a, stream);
    } else {
        launch_packed<T, D, false>(a, stream);
    }
}

template <typename T>
bool launch_packed_head(const AttentionArgs& a, cudaStream_t stream) {
    switch (a.hs) {
        case 32:
            launch_packed_bias<T, 32>(a, stream);
            return true;
        case 64:
            launch_packed_bias<T, 64>(a, stream);
            return true;
        case 128:
            launch_packed_bias<T, 128>(a, stream);
            return true;
        default:
            return false;
    }
}

}  // namespace

bool attention_packed(const AttentionArgs& a, cudaStream_t stream) {
    if (!a.segments || a.causal || a.longest_segment <= 0 || a.b_n != 1) return false;
    if (a.io_dtype != DType::BF16 && a.io_dtype != DType::F16) return false;
    if (a.kv_dtype != a.io_dtype || a.nh % a.nkv != 0) return false;
    if (a.bias && a.bias_width < 2 * a.longest_segment - 1) return false;
    const auto aligned16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    // 16-byte copies: every row of q, k and v starts on a multiple of 8 elements.
    if (a.q_seq % 8 != 0 || a.k_seq % 8 != 0 || a.v_seq % 8 != 0 || !aligned16(a.q) ||
        !aligned16(a.k) || !aligned16(a.v) || reinterpret_cast<uintptr_t>(a.out) % 4 != 0)
        return false;
    if (a.tiles && reinterpret_cast<uintptr_t>(a.tiles) % 16 != 0) {  // read as int4: the grid
        AttentionArgs whole = a;
        whole.tiles = nullptr;
        return attention_packed(whole, stream);
    }
    return a.io_dtype == DType::BF16 ? launch_packed_head<__nv_bfloat16>(a, stream)
                                     : launch_packed_head<__half>(a, stream);
}

}  // namespace ferris::cuda
