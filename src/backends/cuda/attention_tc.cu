// Prefill attention on tensor cores, flash-attention-2 style: a block = 64 query rows of one head
// (4 warps x 16 rows); K/V tiles of 64 keys staged in shared memory in the compute dtype (bf16 or
// f16); S = Q K^T and O += P V with mma.sync m16n8k16 (f32 accumulate); online softmax in
// registers, in base 2. q, k, v and the probabilities p are rounded to the compute dtype, as
// flash-attention does; the caller opts in through AttentionArgs::precision. Masks as the SIMT
// kernel (attention_mask.cuh): causal with an offset, key lengths, packed segments, relative bias.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/attention.cuh"
#include "backends/cuda/attention_mask.cuh"
#include "backends/cuda/attention_tc_tile.cuh"
#include "backends/cuda/check.h"

namespace ferris::cuda {

namespace {

// Eight consecutive elements of a row into shared memory as T: 16-byte copies when the source
// already is T, else two float4 loads rounded (f32 activations, e.g. the encoders' K and V).
template <typename T, typename Src>
__device__ __forceinline__ void stage8(T* dst, const Src* src, bool ok) {
    uint4 packed = make_uint4(0, 0, 0, 0);
    if (ok) {
        if constexpr (std::is_same_v<Src, T>) {
            packed = *reinterpret_cast<const uint4*>(src);
        } else {
            const float4 lo = *reinterpret_cast<const float4*>(src);
            const float4 hi = *reinterpret_cast<const float4*>(src + 4);
            packed = make_uint4(pack2<T>(lo.x, lo.y), pack2<T>(lo.z, lo.w), pack2<T>(hi.x, hi.y),
                                pack2<T>(hi.z, hi.w));
        }
    }
    *reinterpret_cast<uint4*>(dst) = packed;
}

// The key ranges of a block's rows. With packed segments, the boundaries that 64 consecutive rows
// can touch are staged in shared memory once: the block's first segment is found by a
// warp-cooperative search (a few dependent loads instead of one binary search per row), so
// range() costs shared-memory reads only. Without segments it is range_of (no memory reads).
struct BlockRanges {
    int32_t bounds[kTcRows + 2];  // segments[first .. first + kTcRows + 1], INT32_MAX past the end

    // Every thread calls it (it synchronizes the block).
    __device__ void load(const AttentionArgs& a, int64_t t0) {
        __shared__ int64_t first;
        if (!a.segments) return;
        if (threadIdx.x < 32) {
            const int lane = threadIdx.x;
            int64_t lo = 0, hi = a.n_segments - 1;  // the last i with segments[i] <= t0
            while (hi > lo) {
                const int64_t stride = (hi - lo + 32) / 32;
                const int64_t idx = lo + lane * stride;
                const bool le = idx <= hi && a.segments[idx] <= t0;
                const unsigned votes = __ballot_sync(kFullMask, le);
                const int k = 31 - __clz(votes);  // lane 0 always votes (segments[lo] <= t0)
                lo = lo + k * stride;
                hi = min(hi, lo + stride - 1);
                if (stride == 1) break;
            }
            if (lane == 0) first = lo;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < kTcRows + 2; i += blockDim.x) {
            const int64_t idx = first + i;
            bounds[i] = idx <= a.n_segments ? a.segments[idx] : INT32_MAX;
        }
        __syncthreads();
    }

    __device__ KeyRange range(const AttentionArgs& a, int64_t b, int64_t t) const {
        if (!a.segments || t >= a.t_n) return range_of(a, b, t);
        int k = 0;  // the last staged boundary <= t (rows of one block span <= kTcRows segments)
        while (k + 1 < kTcRows + 2 && bounds[k + 1] <= t) ++k;
        return {bounds[k], a.causal ? t + 1 : static_cast<int64_t>(bounds[k + 1])};
    }
};

template <int D>
constexpr size_t tc_smem_bytes() {
    return sizeof(uint16_t) * (kTcRows + 2 * kTcKeys) * (D + 8);
}

template <typename T, typename KV, typename QO, int D>
__global__ void __launch_bounds__(kTcThreads) tc_prefill_kernel(AttentionArgs a) {
    constexpr int kStride = TcWarpRows<T, D>::kStride;
    extern __shared__ uint4 tc_smem[];
    T* qs = reinterpret_cast<T*>(tc_smem);  // (kTcRows, kStride)
    T* ks = qs + kTcRows * kStride;         // (kTcKeys, kStride)
    T* vs = ks + kTcKeys * kStride;         // (kTcKeys, kStride)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int quad_row = lane >> 2, quad_col = (lane & 3) * 2;
    const int64_t b = blockIdx.z, h = blockIdx.y;
    // The blocks with the most keys first: causal rows late in the sequence; packed sequences
    // (sorted longest first by the callers) at the start.
    const int64_t t0 =
        static_cast<int64_t>(a.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * kTcRows;
    const int64_t kvh = h / (a.nh / a.nkv);
    __shared__ BlockRanges ranges;
    ranges.load(a, t0);
    const int64_t first = ranges.range(a, b, t0).begin;
    const int64_t last =
        max(first, ranges.range(a, b, min(t0 + static_cast<int64_t>(kTcRows), a.t_n) - 1).end);

    for (int idx = threadIdx.x; idx < kTcRows * D / 8; idx += kTcThreads) {
        const int r = idx / (D / 8), c = idx % (D / 8) * 8;
        const int64_t t = t0 + r;
        stage8<T, QO>(qs + r * kStride + c,
                      static_cast<const QO*>(a.q) + b * a.q_batch + t * a.q_seq + h * D + c,
                      t < a.t_n);
    }
    // This thread's two rows (quad_row and quad_row + 8 of the warp's 16), and the warp's span.
    const int64_t wt = t0 + warp * 16;
    const int64_t row0 = wt + quad_row, row1 = row0 + 8;
    const KeyRange r0 = ranges.range(a, b, row0), r1 = ranges.range(a, b, row1);
    const int64_t w_begin = ranges.range(a, b, wt).begin;
    const int64_t w_end = ranges.range(a, b, min(wt + 15, a.t_n - 1)).end;
    const bool warp_live = wt < a.t_n;
    __syncthreads();
    TcWarpRows<T, D> rows;
    rows.start(qs + warp * 16 * kStride, lane);
    const KV* kp = static_cast<const KV*>(a.k) + b * a.k_batch + kvh * D;
    const KV* vp = static_cast<const KV*>(a.v) + b * a.v_batch + kvh * D;

    for (int64_t s0 = first; s0 < last; s0 += kTcKeys) {
        __syncthreads();  // the previous tile is consumed (and the Q fragments are loaded)
#pragma unroll
        for (int idx = threadIdx.x; idx < kTcKeys * D / 8; idx += kTcThreads) {
            const int j = idx / (D / 8), c = idx % (D / 8) * 8;  // D / 8: a power of two
            const int64_t s = s0 + j;
            stage8<T, KV>(ks + j * kStride + c, kp + s * a.k_seq + c, s < last);
            stage8<T, KV>(vs + j * kStride + c, vp + s * a.v_seq + c, s < last);
        }
        __syncthreads();
        if (!warp_live || w_end <= s0 || w_begin >= s0 + kTcKeys) continue;  // warp-uniform

        float sc[8][4];  // S for 8 tiles of 8 keys: [0..1] row0, [2..3] row1
        rows.scores(sc, ks, lane);
        // Key offsets within the tile, in 32-bit: [lo, hi) of each row seen in this tile.
        constexpr int64_t kKeys = kTcKeys;
        const int k0lo = static_cast<int>(max(r0.begin - s0, int64_t{0}));
        const int k0hi = static_cast<int>(min(r0.end - s0, kKeys));
        const int k1lo = static_cast<int>(max(r1.begin - s0, int64_t{0}));
        const int k1hi = static_cast<int>(min(r1.end - s0, kKeys));
        if (!a.bias && k0lo == 0 && k1lo == 0 && k0hi == kTcKeys && k1hi == kTcKeys) {
            // The whole tile is seen by both rows (the inside of long sequences): scale only.
            const float scale2 = a.scale * kLog2e;
#pragma unroll
            for (int n = 0; n < 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) sc[n][e] *= scale2;
        } else {
#pragma unroll
            for (int n = 0; n < 8; ++n)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int k = n * 8 + quad_col + e;
                    const int64_t s = s0 + k;
                    sc[n][e] = (k >= k0lo && k < k0hi)
                                   ? (sc[n][e] * a.scale + bias_of(a, h, row0, s)) * kLog2e
                                   : -INFINITY;
                    sc[n][2 + e] = (k >= k1lo && k < k1hi)
                                       ? (sc[n][2 + e] * a.scale + bias_of(a, h, row1, s)) * kLog2e
                                       : -INFINITY;
                }
        }
        rows.accumulate(sc, vs, lane);
    }
    QO* out = static_cast<QO*>(a.out);
    rows.store(row0 < a.t_n ? out + ((b * a.t_n + row0) * a.nh + h) * D : nullptr,
               row1 < a.t_n ? out + ((b * a.t_n + row1) * a.nh + h) * D : nullptr, lane);
}

template <typename T, typename KV, typename QO, int D>
void launch_tc(const AttentionArgs& a, cudaStream_t stream) {
    constexpr size_t smem = tc_smem_bytes<D>();
    if constexpr (smem > 48 * 1024)  // per device, so on every launch (it is cheap)
        FERRIS_CUDA_CHECK(cudaFuncSetAttribute(tc_prefill_kernel<T, KV, QO, D>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>((a.t_n + kTcRows - 1) / kTcRows),
                    static_cast<unsigned>(a.nh), static_cast<unsigned>(a.b_n));
    tc_prefill_kernel<T, KV, QO, D><<<grid, kTcThreads, smem, stream>>>(a);
    FERRIS_CUDA_LAUNCH_CHECK("attention tc_prefill_kernel");
}

template <typename T, typename KV, typename QO = float>
bool launch_tc_for_head(const AttentionArgs& a, cudaStream_t stream) {
    switch (a.hs) {
        case 32:
            launch_tc<T, KV, QO, 32>(a, stream);
            return true;
        case 64:
            launch_tc<T, KV, QO, 64>(a, stream);
            return true;
        case 128:
            launch_tc<T, KV, QO, 128>(a, stream);
            return true;
        default:
            return false;
    }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

bool attention_tensor_cores(const AttentionArgs& a, cudaStream_t stream) {
    if (a.precision != DType::BF16 && a.precision != DType::F16 && a.io_dtype == DType::F32)
        return false;
    // 16-byte staging: every row start of q, k and v on a multiple of 8 elements.
    const bool rows_aligned = a.q_batch % 8 == 0 && a.q_seq % 8 == 0 && a.k_batch % 8 == 0 &&
                              a.k_seq % 8 == 0 && a.v_batch % 8 == 0 && a.v_seq % 8 == 0 &&
                              aligned(a.q, 16) && aligned(a.k, 16) && aligned(a.v, 16) &&
                              aligned(a.out, 4);
    if (!rows_aligned || a.nh % a.nkv != 0) return false;
    // Half activations (q and out in bf16/f16): k and v in that dtype too, all read as they are.
    if (a.io_dtype != DType::F32) {
        if (a.kv_dtype != a.io_dtype) return false;
        return a.io_dtype == DType::BF16
                   ? launch_tc_for_head<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16>(a, stream)
                   : launch_tc_for_head<__half, __half, __half>(a, stream);
    }
    // A half-precision cache sets the compute dtype (its values are exact there); f32 k/v (the
    // encoders' activations) are rounded to the requested precision while staged.
    switch (a.kv_dtype) {
        case DType::BF16:
            return launch_tc_for_head<__nv_bfloat16, __nv_bfloat16>(a, stream);
        case DType::F16:
            return launch_tc_for_head<__half, __half>(a, stream);
        default:
            return a.precision == DType::BF16 ? launch_tc_for_head<__nv_bfloat16, float>(a, stream)
                                              : launch_tc_for_head<__half, float>(a, stream);
    }
}

}  // namespace ferris::cuda
