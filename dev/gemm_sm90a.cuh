// Lab code: the variants of the warp-specialized Hopper GEMM whose kept form is Ferris's fused FFN
// up-projection (src/backends/cuda/sm90a/gemm_sm90a.cu: Config::where 2 with gelu_fast, mode 25).
// y (M, N) = [gelu](x (M, K) @ w (N, K)^T + bias), f16/bf16 in and out, f32 accumulation,
// bit-identical to cuBLASLt with the bias epilogue at the encoders' shapes.
// Persistent: one block per multiprocessor walks the output tiles (128 x 256; neighbouring blocks
// take neighbouring column tiles of the same rows, so that they share the x rows in L2). Roles:
// - warp 8, one thread (producer): loads the x and w tiles of each 64-wide K step by TMA (128-byte
//   swizzle) into a 3-stage ring, each stage's full barrier counting the bytes;
// - warpgroups 0 and 1 (multipliers): rows 0-63 and 64-127 of the tile, four wgmma m64n256k16 a
//   stage; a stage goes back once its MMAs are known done (wait_group 1). At the tile's end they
//   add the bias, round to T and stmatrix the tile into a staging buffer (or, Config::where 2,
//   apply the GELU first), then go on to the next tile;
// - warps 9-11 (finishers): the GELU over the staged tile in place (Config::where 1), then its TMA
//   store, while the multipliers work on the next tile.
// Where the GELU runs (dev/NOTES_EMBED.md, "A GEMM of our own", for the numbers): it is bound by
// instructions, not memory. With erff (~30 an element) no placement pays: three finisher warps
// fall behind the tensor cores; in the multipliers' epilogue it stalls them; deferred into the next
// tile's MMAs (where 4, 5) it does not overlap them either (168 registers leave the GELU too little
// room). Config::where 3 looks it up in a table of every 16-bit input (exact, but twice as slow:
// bank conflicts, scattered 4-byte stores). gelu_fast (~15 instructions, within an ulp of the exact
// GELU) in the multipliers' epilogue is what pays: 0.83 of cuBLASLt + the GELU pass on an H100.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <atomic>

#include "../src/backends/cuda/gelu_fast.cuh"
#include "../src/backends/cuda/sm90a/gemm_sm90a_layout.cuh"
#include "../src/backends/cuda/sm90a/sm90a.cuh"

namespace ferris::cuda {

namespace {

using namespace sm90;  // tile sizes, staged layout, tensor maps, PTX helpers

// GELU by table (Config::where 3): every 16-bit value of |x| < 8 (f16: patterns below 0x4800,
// bf16: below 0x4100, per sign) maps to its GELU, computed once by gelu_table_kernel with the
// GELU pass's own formula, so the result is that pass's bit for bit. |x| >= 8: x, or -0 below
// zero (erff is -1 there); inf and NaN through the formula. The table (72 / 66.5 KB) takes the
// staged tile's place in shared memory; the multipliers store straight from their registers.
template <typename T>
__host__ __device__ constexpr uint32_t gelu_table_limit() {
    return std::is_same_v<T, __half> ? 0x4800u : 0x4100u;
}
template <typename T>
__host__ __device__ constexpr size_t gelu_table_bytes() {
    return size_t(2) * gelu_table_limit<T>() * 2;
}
template <typename T>
__global__ void gelu_table_kernel(uint16_t* table) {
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x, limit = gelu_table_limit<T>();
    if (i >= 2 * limit) return;
    const uint16_t bits = uint16_t((i / limit) << 15 | (i % limit));
    float x;
    if constexpr (std::is_same_v<T, __half>)
        x = __half2float(__ushort_as_half(bits));
    else
        x = __bfloat162float(__ushort_as_bfloat16(bits));
    const float g = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    if constexpr (std::is_same_v<T, __half>)
        table[i] = __half_as_ushort(__float2half_rn(g));
    else
        table[i] = __bfloat16_as_ushort(__float2bfloat16_rn(g));
}
// GELU of the 16-bit pattern `bits` of a T through the table.
template <typename T>
__device__ __forceinline__ uint32_t gelu_by_table(uint32_t bits, const uint16_t* table) {
    constexpr uint32_t limit = gelu_table_limit<T>();
    const uint32_t magnitude = bits & 0x7FFFu;
    if (magnitude < limit) return table[(bits >> 15) * limit + magnitude];
    constexpr uint32_t inf = std::is_same_v<T, __half> ? 0x7C00u : 0x7F80u;
    if (magnitude < inf) return bits >> 15 ? 0x8000u : bits;
    float x;
    if constexpr (std::is_same_v<T, __half>)
        x = __half2float(__ushort_as_half(uint16_t(bits)));
    else
        x = __bfloat162float(__ushort_as_bfloat16(uint16_t(bits)));
    const float g = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    if constexpr (std::is_same_v<T, __half>)
        return __half_as_ushort(__float2half_rn(g));
    else
        return __bfloat16_as_ushort(__float2bfloat16_rn(g));
}

template <typename T>
__device__ __forceinline__ float to_f(T v) {
    if constexpr (std::is_same_v<T, __half>)
        return __half2float(v);
    else
        return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_f(float v) {
    if constexpr (std::is_same_v<T, __half>)
        return __float2half_rn(v);
    else
        return __float2bfloat16_rn(v);
}

// erff as CUDA's math library evaluates it (one of two minimax polynomials, picked by |z|, then
// for large |z| 1 - 2^p), but with both sides computed and selected instead of branched on: the
// branch kept the compiler from interleaving elements, and the finishers stalled on each one.
// Bit-identical to erff (dev/gemm_gelu_lab.cu and the CUDA tests check every 16-bit input).
__device__ __forceinline__ float erf_select(float z) {
    const auto c = [](uint32_t bits) { return __uint_as_float(bits); };
    const float a = fabsf(z);
    const bool far = a >= c(0x3F8060FEu);
    const float s = far ? a : z * z;
    float r = fmaf(far ? c(0x38EB4C3Au) : c(0x38B1E96Au), s, far ? c(0xBAAE005Bu) : c(0xBA574D20u));
    r = fmaf(r, s, far ? c(0x3C09919Fu) : c(0x3BAAD5EAu));
    r = fmaf(r, s, far ? c(0xBD24D99Au) : c(0xBCDC1BE7u));
    r = fmaf(r, s, far ? c(0x3E235519u) : c(0x3DE718AFu));
    r = fmaf(r, s, far ? c(0x3F69B4F9u) : c(0xBEC093ACu));
    r = fmaf(r, s, far ? c(0x3F210A14u) : c(0x3E0375D3u));
    const float t = far ? -a : z;
    r = fmaf(r, t, t);
    float e;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(r));
    return far ? copysignf(1.0f - e, z) : r;
}

// PyTorch's GELU, 0.5 x (1 + erf(x / sqrt(2))) in f32, as elementwise.cu's gelu_erf computes it.
__device__ __forceinline__ float gelu_erf(float v) {
    return 0.5f * v * (1.0f + erf_select(v * 0.70710678118654752f));
}

// kGelu: 0 erf_select, 1 the library's erff, 2 gelu_fast.
template <typename T, int kGelu>
__device__ __forceinline__ float gelu_of(float v);

// Two accumulators plus their biases, rounded to T (the Linear's output), packed.
template <typename T, bool kGelu, int kKind>
__device__ __forceinline__ uint32_t round_pair(float v0, float v1) {
    if (kGelu) {
        v0 = gelu_of<T, kKind>(to_f(from_f<T>(v0)));
        v1 = gelu_of<T, kKind>(to_f(from_f<T>(v1)));
    }
    T pair[2] = {from_f<T>(v0), from_f<T>(v1)};
    return *reinterpret_cast<const uint32_t*>(pair);
}

// Lab configurations: C::threads (384: 3 finisher warps; 512: 7), C::mma_regs and C::other_regs
// for setmaxnreg (0: none), C::unroll of the finishers' loop, C::erff (the library's branchy erff
// instead of erf_select), C::where (0 no GELU, 1 the finishers, 2 the multipliers, 3 the
// multipliers by table, storing straight from their registers; 4 the multipliers during the next
// tile's MMAs; 5 the same for rows fin_rows..15 of each warp's 16, the finishers rows
// 0..fin_rows-1).
template <int kThreadsC, int kMmaRegs, int kOtherRegs, int kUnroll, int kErff, int kWhere,
          int kFinRows = 0>
struct Config {
    static constexpr int threads = kThreadsC, mma_regs = kMmaRegs, other_regs = kOtherRegs,
                         unroll = kUnroll, where = kWhere, fin_rows = kFinRows;
    static constexpr int erff = kErff;  // the GELU: 0 erf_select, 1 erff, 2 gelu_fast
};

template <typename T, int kGelu>
__device__ __forceinline__ float gelu_of(float v) {
    if constexpr (kGelu == 2) return gelu_fast<T>(v);
    if constexpr (kGelu == 1)
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    else
        return gelu_erf(v);
}

template <typename T, class C>
__global__ void __launch_bounds__(C::threads, 1)
    gemm_sm90a_kernel(const __grid_constant__ CUtensorMap x_map,
                      const __grid_constant__ CUtensorMap w_map,
                      const __grid_constant__ CUtensorMap y_map, const T* __restrict__ bias, int m,
                      int n, int k, T* __restrict__ y, const uint16_t* __restrict__ gelu_table) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    using namespace sm90;
    extern __shared__ uint8_t smem_raw[];
    // The 128-byte swizzle repeats every 1,024 bytes: buffers start on that boundary.
    T* smem =
        reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
    T* stage_a = smem;                                      // kStages x (128 x 64)
    T* stage_b = smem + kStages * kStageA;                  // kStages x (256 x 64)
    T* staged = smem + kStages * (kStageA + kStageB);       // 128 x 256, see staged_offset
    uint16_t* table = reinterpret_cast<uint16_t*>(staged);  // where 3: the GELU table instead
    if constexpr (C::where == 3) {
        const uint4* from = reinterpret_cast<const uint4*>(gelu_table);
        uint4* to = reinterpret_cast<uint4*>(table);
        for (int i = threadIdx.x; i < int(gelu_table_bytes<T>() / 16); i += blockDim.x)
            to[i] = from[i];
    }
    __shared__ __align__(8) uint64_t full[kStages], empty[kStages], staged_full, staged_empty;

    const int n_tiles = n / kBN, tiles = ((m + kBM - 1) / kBM) * n_tiles, k_steps = k / kBK;
    const int group = threadIdx.x / 128, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (threadIdx.x == 0) {
        for (int s = 0; s < kStages; ++s) {
            mbar_init(&full[s], 1);   // the producer's arrive (plus the TMA bytes)
            mbar_init(&empty[s], 2);  // one arrive per multiplier warpgroup
        }
        mbar_init(&staged_full, 256);  // every multiplier thread, after its stmatrix
        mbar_init(&staged_empty, 1);   // the finisher that issued the store, once it is read
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    constexpr int kFinishers = C::threads - 288;
    if (group >= 2) {
        if constexpr (C::other_regs > 0) setmaxnreg_dec<C::other_regs>();
        if (warp == 8) {  // the producer
            if (lane != 0) return;
            int s = 0;
            uint32_t phase = 0;
            for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
                const int m0 = (tile / n_tiles) * kBM, n0 = (tile % n_tiles) * kBN;
                for (int ks = 0; ks < k_steps; ++ks) {
                    mbar_wait(&empty[s], phase ^ 1);
                    mbar_arrive_expect_tx(&full[s], kStageBytes);
                    tma_load_2d(stage_a + s * kStageA, &x_map, &full[s], ks * kBK, m0);
                    tma_load_2d(stage_b + s * kStageB, &w_map, &full[s], ks * kBK, n0);
                    if (++s == kStages) s = 0, phase ^= 1;
                }
            }
            return;
        }
        // The finishers.
        if constexpr (C::where == 3 || C::where == 4) return;
        if constexpr (C::where == 5) {
            // Rows 0..fin_rows-1 of each warp's 16 of every staged tile, then the multipliers'
            // store barrier.
            const int f = threadIdx.x - 288;
            constexpr int kBandChunks = C::fin_rows * 32;
            uint32_t phase = 0;
            for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
                mbar_wait(&staged_full, phase);
                phase ^= 1;
                for (int c = f; c < 8 * kBandChunks; c += kFinishers) {
                    const int row = (c / kBandChunks) * 16 + (c % kBandChunks) / 32;
                    uint4* chunk = reinterpret_cast<uint4*>(reinterpret_cast<uint8_t*>(staged) +
                                                            staged_offset(row, c % 32));
                    uint4 v = *chunk;
                    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
                    for (int j = 0; j < 8; ++j) e[j] = from_f<T>(gelu_of<T, C::erff>(to_f(e[j])));
                    *chunk = v;
                }
                fence_async_shared();
                named_barrier(2, 256 + kFinishers);
            }
            return;
        }
        const int f = threadIdx.x - 288;
        uint32_t phase = 0;
        for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
            const int m0 = (tile / n_tiles) * kBM, n0 = (tile % n_tiles) * kBN;
            mbar_wait(&staged_full, phase);
            phase ^= 1;
            if constexpr (C::where == 1) {
                // Element-wise, so the swizzled order does not matter: 16 bytes at a time.
                uint4* chunks = reinterpret_cast<uint4*>(staged);
#pragma unroll(C::unroll)
                for (int c = f; c < kBM * kBN / 8; c += kFinishers) {
                    uint4 v = chunks[c];
                    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
                    for (int i = 0; i < 8; ++i) e[i] = from_f<T>(gelu_of<T, C::erff>(to_f(e[i])));
                    chunks[c] = v;
                }
            }
            if constexpr (C::where == 6) {
                // The last fin_rows of the 32 column chunks of every row (the multipliers GELU'd
                // the others in their registers).
                constexpr int kCols = C::fin_rows;
                for (int i = f; i < kBM * kCols; i += kFinishers) {
                    uint4* chunk =
                        reinterpret_cast<uint4*>(reinterpret_cast<uint8_t*>(staged) +
                                                 staged_offset(i / kCols, 32 - kCols + i % kCols));
                    uint4 v = *chunk;
                    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
                    for (int j = 0; j < 8; ++j) e[j] = from_f<T>(gelu_of<T, C::erff>(to_f(e[j])));
                    *chunk = v;
                }
            }
            fence_async_shared();
            named_barrier(1, kFinishers);
            if (f == 0) {
                for (int b = 0; b < 8; ++b)
                    tma_store_2d(&y_map, staged + b * 64 * 64, n0 + (b % 4) * 64,
                                 m0 + (b / 4) * 64);
                tma_store_commit();
                tma_store_wait_read();
                mbar_arrive(&staged_empty);
            }
        }
        if (f == 0) tma_store_wait_all();
        return;
    }

    // The multipliers.
    if constexpr (C::mma_regs > 0) setmaxnreg_inc<C::mma_regs>();
    const bool leader = threadIdx.x % 128 == 0;
    const int wg_warp = warp % 4;
    float d[128];
    int s = 0;
    uint32_t phase = 0, staged_phase = 0;
    // where 4: the staged tile waits for its GELU and store until the next tile's MMAs are in
    // flight (pending; its origin in pending_m0 / pending_n0). Each warp GELUs the 16 rows its own
    // stmatrix wrote, a share of them per K step, so that only the store needs all 256 threads.
    constexpr bool kDeferred = C::where == 4 || C::where == 5;
    bool pending = false;
    int pending_m0 = 0, pending_n0 = 0;
    const int gelu_steps = k_steps > 1 ? k_steps - 1 : 1;
    // where 5: the finishers take the first fin_rows of the warp's rows.
    constexpr int kSkipRows = C::where == 5 ? C::fin_rows : 0, kOwnRows = 16 - kSkipRows;
    constexpr int kStoreThreads = C::where == 5 ? C::threads - 32 : 256;
    const int own_rows = group * 64 + wg_warp * 16 + kSkipRows;
    const auto gelu_rows = [&](int i0, int i1) {
        for (int i = i0; i < i1; ++i) {
            uint4* chunk = reinterpret_cast<uint4*>(reinterpret_cast<uint8_t*>(staged) +
                                                    staged_offset(own_rows + i, lane));
            uint4 v = *chunk;
            T* e = reinterpret_cast<T*>(&v);
            if constexpr (C::unroll != 2) {  // 2: no GELU, to time the structure alone
#pragma unroll
                for (int j = 0; j < 8; ++j) e[j] = from_f<T>(gelu_of<T, C::erff>(to_f(e[j])));
            }
            *chunk = v;
        }
    };
    const auto store_staged = [&]() {
        fence_async_shared();
        named_barrier(2, kStoreThreads);
        if (threadIdx.x == 0) {
            for (int b = 0; b < 8; ++b)
                tma_store_2d(&y_map, staged + b * 64 * 64, pending_n0 + (b % 4) * 64,
                             pending_m0 + (b / 4) * 64);
            tma_store_commit();
        }
    };
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int n0 = (tile % n_tiles) * kBN;
        int previous = -1;
        for (int ks = 0; ks < k_steps; ++ks) {
            mbar_wait(&full[s], phase);
            wgmma_fence();
            const T* a = stage_a + s * kStageA + group * 64 * kBK;
            const T* b = stage_b + s * kStageB;
#pragma unroll
            for (int kk = 0; kk < kBK / 16; ++kk)
                wgmma_m64n256k16<T>(d, smem_desc_sw128(a + kk * 16), smem_desc_sw128(b + kk * 16),
                                    ks > 0 || kk > 0);
            wgmma_commit();
            // where 4: while this step's MMAs run, a share of the previous tile's GELU, and after
            // the last share its store (C::unroll 3: after the wait below instead).
            const bool share = kDeferred && pending && ks < gelu_steps;
            if (C::unroll != 3 && share) {
                gelu_rows(kOwnRows * ks / gelu_steps, kOwnRows * (ks + 1) / gelu_steps);
                if (ks == gelu_steps - 1) store_staged();
            }
            // The step before is done once at most this one is in flight: its stage goes back.
            wgmma_wait<1>();
            if (C::unroll == 3 && share) {
                gelu_rows(kOwnRows * ks / gelu_steps, kOwnRows * (ks + 1) / gelu_steps);
                if (ks == gelu_steps - 1) store_staged();
            }
            if (previous >= 0 && leader) mbar_arrive(&empty[previous]);
            previous = s;
            if (++s == kStages) s = 0, phase ^= 1;
        }
        wgmma_wait<0>();
        if (leader) mbar_arrive(&empty[previous]);
#pragma unroll
        for (int i = 0; i < 128; ++i) fence_operand(d[i]);

        if constexpr (C::where == 3) {
            // Fragment: d[4j + 2h + e] is row 16 wg_warp + lane/4 + 8h, column 8j + 2 (lane%4) + e.
            const int m0 = (tile / n_tiles) * kBM;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = m0 + group * 64 + wg_warp * 16 + lane / 4 + 8 * h;
                if (row >= m) continue;
                T* out = y + size_t(row) * n + n0 + 2 * (lane % 4);
#pragma unroll
                for (int j = 0; j < 32; ++j) {
                    const int col = n0 + 8 * j + 2 * (lane % 4);
                    float b0 = 0.0f, b1 = 0.0f;
                    if (bias) {
                        const uint32_t packed = *reinterpret_cast<const uint32_t*>(bias + col);
                        const T* bp = reinterpret_cast<const T*>(&packed);
                        b0 = to_f(bp[0]);
                        b1 = to_f(bp[1]);
                    }
                    const uint32_t pair = round_pair<T, false, false>(d[4 * j + 2 * h] + b0,
                                                                      d[4 * j + 2 * h + 1] + b1);
                    const uint32_t g = gelu_by_table<T>(pair & 0xFFFFu, table) |
                                       gelu_by_table<T>(pair >> 16, table) << 16;
                    *reinterpret_cast<uint32_t*>(out + 8 * j) = g;
                }
            }
            continue;
        }
        if constexpr (kDeferred) {
            // The previous tile's store must have read the staging buffer.
            if (pending) {
                if (threadIdx.x == 0) tma_store_wait_read();
                named_barrier(3, 256);
            }
        } else {
            mbar_wait(&staged_empty, staged_phase ^ 1);  // the finishers stored the last tile
            staged_phase ^= 1;
        }
        // Fragment: d[4j + 2h + e] is row 16 wg_warp + lane/4 + 8h, column 8j + 2 (lane%4) + e.
        // stmatrix x4 takes the 8 x 8 matrices (j, top) (j, bottom) (j+1, top) (j+1, bottom);
        // lane l gives the address of row l % 8 of matrix l / 8.
        const int mi = lane / 8, row = group * 64 + wg_warp * 16 + (mi % 2) * 8 + lane % 8;
        const uint32_t base = smem_u32(staged);
#pragma unroll
        for (int j = 0; j < 32; j += 2) {
            uint32_t r[4];
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                const int col = n0 + 8 * (j + q) + 2 * (lane % 4);
                float b0 = 0.0f, b1 = 0.0f;
                if (bias) {
                    const uint32_t packed = *reinterpret_cast<const uint32_t*>(bias + col);
                    const T* bp = reinterpret_cast<const T*>(&packed);
                    b0 = to_f(bp[0]);
                    b1 = to_f(bp[1]);
                }
                // where 6: the multipliers GELU column chunks 0 .. 31 - fin_rows only.
                constexpr bool kMulGelu = C::where == 2 || C::where == 6;
                const bool gelu_here = C::where != 6 || j + q < 32 - C::fin_rows;
                if (kMulGelu && gelu_here) {
                    r[2 * q] =
                        round_pair<T, true, C::erff>(d[4 * (j + q)] + b0, d[4 * (j + q) + 1] + b1);
                    r[2 * q + 1] = round_pair<T, true, C::erff>(d[4 * (j + q) + 2] + b0,
                                                                d[4 * (j + q) + 3] + b1);
                    continue;
                }
                r[2 * q] = round_pair<T, C::where == 2, C::erff>(d[4 * (j + q)] + b0,
                                                                 d[4 * (j + q) + 1] + b1);
                r[2 * q + 1] = round_pair<T, C::where == 2, C::erff>(d[4 * (j + q) + 2] + b0,
                                                                     d[4 * (j + q) + 3] + b1);
            }
            stmatrix_x4(base + staged_offset(row, j + mi / 2), r[0], r[1], r[2], r[3]);
        }
        if constexpr (kDeferred) {
            __syncwarp();  // the warp's own rows, read back by its lanes during the next tile
            pending = true;
            pending_m0 = (tile / n_tiles) * kBM;
            pending_n0 = n0;
        }
        if constexpr (C::where != 4) mbar_arrive(&staged_full);
    }
    if constexpr (kDeferred) {
        if (pending) {
            gelu_rows(0, kOwnRows);
            store_staged();
            if (threadIdx.x == 0) tma_store_wait_all();
        }
    }
#endif
}

// Row-major (rows, cols) 16-bit matrix in boxes of box_rows x box_cols with the 128-byte swizzle.
bool make_map(CUtensorMap& map, const void* base, bool bf16, int64_t rows, int64_t cols,
              int box_rows, int box_cols) {
    return encode_tile_map(map, base, bf16, rows, cols, box_rows, box_cols) == CUDA_SUCCESS;
}

template <typename T, class C>
cudaError_t launch(const CUtensorMap& x_map, const CUtensorMap& w_map, const CUtensorMap& y_map,
                   const void* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                   void* y = nullptr, const uint16_t* table = nullptr) {
    auto* kernel = gemm_sm90a_kernel<T, C>;
    const size_t smem =
        C::where == 3 ? size_t(kStages) * kStageBytes + gelu_table_bytes<T>() + 1024 : kSmemBytes;
    int device = 0, sms = 0;
    cudaError_t e = cudaGetDevice(&device);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    // The shared-memory opt-in is per device and per kernel: set once for each.
    static std::atomic<uint64_t> opted_in{0};
    const uint64_t bit = uint64_t(1) << (device & 63);
    if (e == cudaSuccess && !(opted_in.load() & bit)) {
        e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
        if (e == cudaSuccess) opted_in.fetch_or(bit);
    }
    if (e != cudaSuccess) return e;
    const int64_t tiles = ((m + kBM - 1) / kBM) * (n / kBN);
    const int grid = int(tiles < sms ? tiles : sms);
    kernel<<<grid, C::threads, smem, stream>>>(x_map, w_map, y_map, static_cast<const T*>(bias),
                                               int(m), int(n), int(k), static_cast<T*>(y), table);
    return cudaGetLastError();
}

}  // namespace

bool gemm_sm90a_fits(int64_t m, int64_t n, int64_t k, const void* y, const void* x, const void* w,
                     const void* bias) {
    int device = 0, major = 0, minor = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess)
        return false;
    const auto aligned = [](const void* p, uintptr_t a) {
        return reinterpret_cast<uintptr_t>(p) % a == 0;
    };
    return major == 9 && minor == 0 && tensor_map_encoder() && m >= 1 && m < (int64_t(1) << 31) &&
           n >= kBN && n % kBN == 0 && n < (int64_t(1) << 31) && k >= kBK && k % kBK == 0 &&
           k < (int64_t(1) << 31) && m * n < (int64_t(1) << 62) && aligned(y, 16) &&
           aligned(x, 16) && aligned(w, 16) && (!bias || aligned(bias, 4));
}

// Lab switch (gelu = true): 1 finishers, setmaxnreg 200/104; 2 finishers, no setmaxnreg; 3 the
// same unrolled twice; 4 finishers with the library's erff; 7 the multipliers with erff; 10 the
// multipliers by table (gemm_sm90a_gelu_table must be set: gelu_table_kernel's output for T);
// 11 the GELU deferred into the next tile's MMAs (erf_select), 12 the same with erff, 13 the
// same structure with no GELU (C::unroll 2), 14 each share after the wait (C::unroll 3), 15 mode
// 11 without setmaxnreg, 16-19 the finishers taking 6 / 8 / 10 / 12 of every 16 rows (where 5);
// with gelu_fast: 20 / 21 the finishers (as 1 / 3), 22 deferred (as 11), 23 / 24 shared 8 / 12
// rows, 25 in the multipliers' epilogue, 26-29 the finishers taking the last 8 / 12 / 16 / 20 of
// the 32 column chunks (where 6), the multipliers the rest in their epilogue; 30-33 the same with
// 2 / 4 / 6 / 10 chunks.
int gemm_sm90a_mode = 1;
const uint16_t* gemm_sm90a_gelu_table = nullptr;

cudaError_t gemm_sm90a(void* y, const void* x, const void* w, const void* bias, bool bf16,
                       bool gelu, int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
    CUtensorMap x_map, w_map, y_map;
    if (!make_map(x_map, x, bf16, m, k, kBM, kBK) || !make_map(w_map, w, bf16, n, k, kBN, kBK) ||
        !make_map(y_map, y, bf16, m, n, 64, 64))
        return cudaErrorInvalidValue;
    const int mode = gelu ? gemm_sm90a_mode : 0;
    auto go = [&](auto zero) {
        using T = decltype(zero);
        // One launch for every configuration (y and the table are read by where 3 only).
        auto run = [&](auto config) {
            return launch<T, decltype(config)>(x_map, w_map, y_map, bias, m, n, k, stream, y,
                                               gemm_sm90a_gelu_table);
        };
        switch (mode) {
            case 1:
                return run(Config<384, 200, 104, 1, false, 1>{});
            case 2:
                return run(Config<384, 0, 0, 1, false, 1>{});
            case 3:
                return run(Config<384, 0, 0, 2, false, 1>{});
            case 4:
                return run(Config<384, 0, 0, 1, true, 1>{});
            case 7:
                return run(Config<384, 0, 0, 1, true, 2>{});
            case 10:
                return run(Config<384, 0, 0, 1, false, 3>{});
            case 11:
                return run(Config<384, 200, 104, 1, false, 4>{});
            case 12:
                return run(Config<384, 200, 104, 1, true, 4>{});
            case 13:
                return run(Config<384, 200, 104, 2, false, 4>{});
            case 14:
                return run(Config<384, 200, 104, 3, false, 4>{});
            case 15:
                return run(Config<384, 0, 0, 1, false, 4>{});
            case 16:
                return run(Config<384, 200, 104, 1, false, 5, 6>{});
            case 17:
                return run(Config<384, 200, 104, 1, false, 5, 8>{});
            case 18:
                return run(Config<384, 200, 104, 1, false, 5, 10>{});
            case 19:
                return run(Config<384, 200, 104, 1, false, 5, 12>{});
            case 20:
                return run(Config<384, 200, 104, 1, 2, 1>{});
            case 21:
                return run(Config<384, 0, 0, 2, 2, 1>{});
            case 22:
                return run(Config<384, 200, 104, 1, 2, 4>{});
            case 23:
                return run(Config<384, 200, 104, 1, 2, 5, 8>{});
            case 24:
                return run(Config<384, 200, 104, 1, 2, 5, 12>{});
            case 25:
                return run(Config<384, 200, 104, 1, 2, 2>{});
            case 26:
                return run(Config<384, 200, 104, 1, 2, 6, 8>{});
            case 27:
                return run(Config<384, 200, 104, 1, 2, 6, 12>{});
            case 28:
                return run(Config<384, 200, 104, 1, 2, 6, 16>{});
            case 29:
                return run(Config<384, 200, 104, 1, 2, 6, 20>{});
            case 30:
                return run(Config<384, 200, 104, 1, 2, 6, 2>{});
            case 31:
                return run(Config<384, 200, 104, 1, 2, 6, 4>{});
            case 32:
                return run(Config<384, 200, 104, 1, 2, 6, 6>{});
            case 33:
                return run(Config<384, 200, 104, 1, 2, 6, 10>{});
            default:
                return run(Config<384, 200, 104, 1, false, 0>{});
        }
    };
    return bf16 ? go(__nv_bfloat16{}) : go(__half{});
}

}  // namespace ferris::cuda
