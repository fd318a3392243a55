// The kernel lab's earlier and dropped GEMV variants (dev/gemv_lab.cu times them; dev/NOTES.md
// has the numbers): the GEMV of 2026-11-26 before gemv.cu, and the TMA-ring variant. Lab code
// only: Ferris never includes this.
#pragma once

#include "backends/cuda/gemv_kernel.cuh"

namespace ferris::cuda::v0 {
// The GEMV of 2026-11-26 (linear.cu before gemv.cu): one warp (or `split` warps) per row, a block
// of 8 rows, a block barrier per group of rows, x read from global memory per chunk.
// Decode-sized products (N <= 4 rows, bf16/f16 weights): `split` warps share an output row, each
// streaming a strided part of it in 16-byte loads issued four at a time (so enough bytes are in
// flight to cover memory latency even when rows are few and long), then the block sums the
// warps' partial dot products. One kernel: no x conversion pass. x is rounded to the weight dtype
// first, as the tensor-core path does, so both paths compute the same products.
constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvUnroll = 4;

// x rows are either read as they are, or RMS-normalized on the fly (`norm`: the norm's weight and
// each row's 1 / rms, computed by the block first), so a pre-norm costs no kernel of its own.
struct GemvNorm {
    const float* weight = nullptr;  // (in) f32, or null: x is used as it is
    float eps = 0.0f;
};

template <typename T, int N>
__device__ __forceinline__ void gemv_chunk(const uint4& packed, const float* x, int64_t in,
                                           int64_t c, const float* g, const float (&inv)[N],
                                           float (&acc)[N]) {
    const T* e = reinterpret_cast<const T*>(&packed);
    float gv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    if (g) {
        const float4 ga = reinterpret_cast<const float4*>(g + c * 8)[0];
        const float4 gb = reinterpret_cast<const float4*>(g + c * 8)[1];
        gv[0] = ga.x, gv[1] = ga.y, gv[2] = ga.z, gv[3] = ga.w;
        gv[4] = gb.x, gv[5] = gb.y, gv[6] = gb.z, gv[7] = gb.w;
    }
#pragma unroll
    for (int r = 0; r < N; ++r) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * in + c * 8);
        const float4 a = xr[0], b = xr[1];
        float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        if (g) {
#pragma unroll
            for (int k = 0; k < 8; ++k) xv[k] = gv[k] * (xv[k] * inv[r]);  // as the rms_norm op
        }
#pragma unroll
        for (int k = 0; k < 8; ++k) acc[r] += to_float(e[k]) * to_float(from_float<T>(xv[k]));
    }
}

// kMode: 0 out = W x + b; 1 out += W x + b (a residual add fused in); 2 out = silu(Wg x) * (Wu x)
// with w2 = Wu (SwiGLU: both rows read in one pass). The register caps keep 3-4 blocks resident
// per multiprocessor: at 116 registers the SwiGLU product ran with 2 and needed 2.3 waves.
template <typename T, int N, int kMode>
__global__ void __launch_bounds__(kGemvThreads, kMode == 2 ? 3 : 4)
    gemv_kernel(float* out, const float* x, const T* w, const T* w2, const float* bias, int64_t in,
                int64_t outs, int split, GemvNorm norm) {
    constexpr int kDots = kMode == 2 ? 2 : 1;
    __shared__ float partial[kDots][kGemvWarps][N];
    __shared__ float reduce_scratch[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int rows_per_block = kGemvWarps / split;
    const int64_t groups = (outs + rows_per_block - 1) / rows_per_block;
    const int64_t chunks = in / 8, step = static_cast<int64_t>(split) * 32;
    const int64_t c0 = static_cast<int64_t>(warp % split) * 32 + lane;
    // Blocks loop over groups of rows (a grid of a few waves: the norm below is found once per
    // block, not once per 8 rows of a 152k-row lm_head).
    auto row_of = [&](int64_t group) { return group * rows_per_block + warp / split; };
    auto load_first = [&](int64_t o, uint4(&first)[kDots][kGemvUnroll]) {
#pragma unroll
        for (int d = 0; d < kDots; ++d) {
            const uint4* row = reinterpret_cast<const uint4*>((d == 0 ? w : w2) + o * in);
#pragma unroll
            for (int u = 0; u < kGemvUnroll; ++u) {
                const int64_t c = c0 + u * step;
                first[d][u] = o < outs && c < chunks ? __ldg(row + c) : make_uint4(0, 0, 0, 0);
            }
        }
    };
    // The first weight loads go out before waiting on the previous kernel (PDL): weights never
    // depend on it, so their memory latency overlaps its tail. Only x has to wait.
    uint4 first[kDots][kGemvUnroll];
    load_first(row_of(blockIdx.x), first);
    pdl_begin();
    float inv[N];
#pragma unroll
    for (int r = 0; r < N; ++r) inv[r] = 1.0f;
    if (norm.weight) {  // every block finds the rows' 1 / rms itself (x is a few KB, in L2)
#pragma unroll
        for (int r = 0; r < N; ++r) {
            float ss = 0.0f;
            for (int64_t i = threadIdx.x; i < in; i += kGemvThreads)
                ss += x[r * in + i] * x[r * in + i];
            ss = block_reduce(ss, reduce_scratch);
            inv[r] = 1.0f / sqrtf(ss / static_cast<float>(in) + norm.eps);
        }
    }
    for (int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
        const int64_t o = row_of(group);
        const bool live = o < outs;
        if (group != blockIdx.x) load_first(o, first);
        float acc[kDots][N];
#pragma unroll
        for (int d = 0; d < kDots; ++d)
#pragma unroll
            for (int r = 0; r < N; ++r) acc[d][r] = 0.0f;
        if (live) {
#pragma unroll
            for (int d = 0; d < kDots; ++d) {
                const uint4* row = reinterpret_cast<const uint4*>((d == 0 ? w : w2) + o * in);
#pragma unroll
                for (int u = 0; u < kGemvUnroll; ++u) {
                    const int64_t c = c0 + u * step;
                    if (c < chunks)
                        gemv_chunk<T, N>(first[d][u], x, in, c, norm.weight, inv, acc[d]);
                }
                for (int64_t c = c0 + kGemvUnroll * step; c < chunks; c += kGemvUnroll * step) {
                    uint4 packed[kGemvUnroll];
#pragma unroll
                    for (int u = 0; u < kGemvUnroll; ++u)
                        packed[u] = c + u * step < chunks ? __ldg(row + c + u * step)
                                                          : make_uint4(0, 0, 0, 0);
#pragma unroll
                    for (int u = 0; u < kGemvUnroll; ++u)
                        if (c + u * step < chunks)
                            gemv_chunk<T, N>(packed[u], x, in, c + u * step, norm.weight, inv,
                                             acc[d]);
                }
            }
        }
#pragma unroll
        for (int d = 0; d < kDots; ++d)
#pragma unroll
            for (int r = 0; r < N; ++r) {
                const float s = warp_sum(acc[d][r]);
                if (lane == 0) partial[d][warp][r] = s;
            }
        __syncthreads();
        if (warp % split == 0 && lane < N && live) {
            float s = 0.0f, s2 = 0.0f;
            for (int p = 0; p < split; ++p) {
                s += partial[0][warp + p][lane];
                if constexpr (kMode == 2) s2 += partial[kDots - 1][warp + p][lane];
            }
            float* dst = out + lane * outs + o;
            if constexpr (kMode == 2) {
                *dst = s / (1.0f + expf(-s)) * s2;
            } else {
                s += bias ? bias[o] : 0.0f;
                *dst = kMode == 1 ? *dst + s : s;
            }
        }
        __syncthreads();  // `partial` is read before the next group writes it
    }
}

template <typename T, int kMode>
void launch_gemv(float* out, const float* x, const void* w, const void* w2, const float* bias,
                 int64_t n, int64_t in, int64_t outs, GemvNorm norm, cudaStream_t stream) {
    // Long rows get more warps each (up to all 8 of the block), short rows one.
    const int split = in >= 4096 ? 8 : in >= 2048 ? 4 : in >= 1024 ? 2 : 1;
    const int64_t rows_per_block = kGemvWarps / split;
    const int64_t groups = (outs + rows_per_block - 1) / rows_per_block;
    // At most 4 waves of 8 resident blocks per multiprocessor; blocks loop over the rest.
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(groups, 4 * 8 * sm_count()));
    const T* wt = static_cast<const T*>(w);
    const T* wt2 = static_cast<const T*>(w2);
    switch (n) {
        case 1:
            launch_dependent("gemv_kernel", gemv_kernel<T, 1, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        case 2:
            launch_dependent("gemv_kernel", gemv_kernel<T, 2, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        case 3:
            launch_dependent("gemv_kernel", gemv_kernel<T, 3, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        default:
            launch_dependent("gemv_kernel", gemv_kernel<T, 4, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
    }
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

template <int kMode>
void launch_gemv_any(float* out, const float* x, const void* w, const void* w2, DType dt,
                     const float* bias, int64_t n, int64_t in, int64_t outs, GemvNorm norm,
                     cudaStream_t stream) {
    if (dt == DType::BF16)
        launch_gemv<__nv_bfloat16, kMode>(out, x, w, w2, bias, n, in, outs, norm, stream);
    else
        launch_gemv<__half, kMode>(out, x, w, w2, bias, n, in, outs, norm, stream);
}

}  // namespace ferris::cuda::v0

namespace ferris::cuda {
// ---- Tried and dropped (dev/NOTES.md): the streaming variant (sm_90, one row of x): weight rows
// arrive by TMA bulk copies into a ring of shared-memory stages, so a block keeps ~96 KB in flight
// without registers, issued before the wait on the previous kernel. One block a multiprocessor,
// small enough that the next kernel's block fits beside it and starts its own copies early (PDL).
constexpr int kTmaMaxStages = 16;
constexpr int64_t kTmaStageBytes = 16384;  // target bytes a stage
constexpr int64_t kTmaRingBytes = 96 * 1024;

struct GemvTmaPlan {
    int rows_per_stage = 1;  // 1, 2, 4 or 8 rows (of each matrix for SwiGlu)
    int team = kGemvBlock;   // threads a row: kGemvBlock / rows_per_stage
    int stages = 1;          // ring slots
    int64_t stage_bytes = 0;
};

namespace gemv_detail {
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_expect(uint64_t* bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)),
                 "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n"
        "}\n" ::"r"(smem_u32(bar)),
        "r"(parity)
        : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes,
                                          uint64_t* bar) {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
            "r"(smem_u32(dst)),
        "l"(src), "r"(bytes), "r"(smem_u32(bar))
        : "memory");
}
}  // namespace gemv_detail

template <typename T, GemvMode kMode>
__global__ void __launch_bounds__(kGemvBlock, 1) gemv_tma_kernel(GemvParams p, GemvTmaPlan plan) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    using namespace gemv_detail;
    static_assert(kMode != GemvMode::QkvRope, "the q/k/v product takes gemv_kernel");
    constexpr bool kDual = kMode == GemvMode::SwiGlu;
    extern __shared__ __align__(128) unsigned char tma_smem[];
    __shared__ __align__(8) uint64_t bars[kTmaMaxStages];
    __shared__ float team_partial[2][kGemvBlock / 32];
    __shared__ float reduce_scratch[32];
    __shared__ float inv_rms;
    const int64_t in = p.in, chunks = in / 8, row_bytes = in * static_cast<int64_t>(sizeof(T));
    const int64_t per = (p.items + gridDim.x - 1) / gridDim.x;
    const int64_t r0 = blockIdx.x * per, r1 = min(p.items, r0 + per);
    const int R = plan.rows_per_stage;
    const int64_t n_stages = r1 > r0 ? (r1 - r0 + R - 1) / R : 0;
    unsigned char* ring = tma_smem;
    float* xs = reinterpret_cast<float*>(tma_smem + plan.stages * plan.stage_bytes);
    auto issue = [&](int64_t k) {  // thread 0: stage k into slot k % stages
        const int slot = static_cast<int>(k % plan.stages);
        const int64_t first = r0 + k * R;
        const auto bytes =
            static_cast<uint32_t>(min(static_cast<int64_t>(R), r1 - first) * row_bytes);
        unsigned char* dst = ring + slot * plan.stage_bytes;
        mbar_expect(&bars[slot], kDual ? 2 * bytes : bytes);
        bulk_copy(dst, static_cast<const char*>(p.w) + first * row_bytes, bytes, &bars[slot]);
        if constexpr (kDual)
            bulk_copy(dst + R * row_bytes, static_cast<const char*>(p.w2) + first * row_bytes,
                      bytes, &bars[slot]);
    };
    if (threadIdx.x == 0) {
        for (int s = 0; s < plan.stages; ++s) mbar_init(&bars[s]);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        for (int64_t k = 0; k < min(static_cast<int64_t>(plan.stages), n_stages); ++k) issue(k);
    }
    pdl_begin();
    const bool staged = gemv_stages_x(p.norm_weight != nullptr, in);
    if (p.norm_weight) {
        float ss = 0.0f;
        for (int64_t i = threadIdx.x; i < in; i += kGemvBlock) ss += p.x[i] * p.x[i];
        ss = block_reduce(ss, reduce_scratch);
        if (threadIdx.x == 0) inv_rms = 1.0f / sqrtf(ss / static_cast<float>(in) + p.eps);
        __syncthreads();
    }
    if (staged)
        for (int64_t i = threadIdx.x; i < in; i += kGemvBlock) {
            float v = p.x[i];
            if (p.norm_weight) v = p.norm_weight[i] * (v * inv_rms);
            xs[i] = to_float(from_float<T>(v));
        }
    __syncthreads();  // xs written; the barriers' init visible to every thread

    const int team = plan.team, sub = threadIdx.x % team, slot_row = threadIdx.x / team;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t k = 0; k < n_stages; ++k) {
        const int slot = static_cast<int>(k % plan.stages);
        mbar_wait(&bars[slot], static_cast<uint32_t>((k / plan.stages) & 1));
        const int64_t first = r0 + k * R;
        const int rows = static_cast<int>(min(static_cast<int64_t>(R), r1 - first));
        const T* wa = reinterpret_cast<const T*>(ring + slot * plan.stage_bytes) + slot_row * in;
        const T* wb = wa + R * in;
        float acc[1] = {0.0f}, acc2[1] = {0.0f};
        if (slot_row < rows)
            for (int64_t c = sub; c < chunks; c += team) {
                const uint4 va = *reinterpret_cast<const uint4*>(wa + c * 8);
                if (staged)
                    dot8<T, 1, false>(va, xs, in, c, acc);
                else
                    dot8<T, 1, true>(va, p.x, in, c, acc);
                if constexpr (kDual) {
                    const uint4 vb = *reinterpret_cast<const uint4*>(wb + c * 8);
                    dot8<T, 1, false>(vb, xs, in, c, acc2);
                }
            }
        for (int s = min(team, 32) / 2; s > 0; s >>= 1) {
            acc[0] += __shfl_xor_sync(kFullMask, acc[0], s);
            if constexpr (kDual) acc2[0] += __shfl_xor_sync(kFullMask, acc2[0], s);
        }
        if (team > 32) {
            if (lane == 0) {
                team_partial[0][warp] = acc[0];
                team_partial[1][warp] = acc2[0];
            }
            __syncthreads();
            if (sub == 0) {
                acc[0] = acc2[0] = 0.0f;
                for (int w = 0; w < team / 32; ++w) {
                    acc[0] += team_partial[0][warp + w];
                    acc2[0] += team_partial[1][warp + w];
                }
            }
        }
        if (sub == 0 && slot_row < rows) {
            const int64_t item = first + slot_row;
            if constexpr (kMode == GemvMode::SwiGlu) {
                p.out[item] = acc[0] / (1.0f + expf(-acc[0])) * acc2[0];
            } else {
                const float v = acc[0] + (p.bias ? p.bias[item] : 0.0f);
                p.out[item] = kMode == GemvMode::Accumulate ? p.out[item] + v : v;
            }
        }
        __syncthreads();  // the slot is read: it may be refilled
        if (threadIdx.x == 0 && k + plan.stages < n_stages) {
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
            issue(k + plan.stages);
        }
    }
#endif
}

}  // namespace ferris::cuda
