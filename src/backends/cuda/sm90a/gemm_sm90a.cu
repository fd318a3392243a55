// gemm_sm90a: y (M, N) = [gelu](x (M, K) @ w (N, K)^T + bias), f16/bf16 in and out, f32
// accumulation; the product is bit-identical to cuBLASLt's with the bias epilogue at the encoders'
// shapes (dev/gemm_gelu_lab.cu checks every element). Compiled for sm_90a only.
// Persistent: one block per multiprocessor walks the 128 x 256 output tiles (neighbouring blocks
// take neighbouring column tiles of the same rows, which then share the x rows in L2). Roles:
// - warp 8, one thread (producer): loads the x and w tiles of each 64-wide K step by TMA (128-byte
//   swizzle) into a 4-stage ring, each stage's full barrier counting the bytes;
// - warpgroups 0 and 1 (multipliers): rows 0-63 and 64-127 of the tile, four wgmma m64n256k16 a
//   stage; a stage goes back once its MMAs are known done. At the tile's end they add the bias,
//   round to T, apply the GELU to columns 0-191 and stmatrix the tile into a staging buffer of half
//   a tile, columns 0-127 and then 128-255 (finished in registers while the first half is stored),
//   then go on to the next tile;
// - warps 9-11 (finishers): the GELU of columns 192-255 in the staging buffer, then the second
//   half's TMA store, while the multipliers work on the next tile (thread 0 stores the first
//   half: no handoff between the halves).
// The fourth stage is what the half-size staging buffer buys: with three, the multipliers waited
// for their operands (ncu, H100: up + GELU 186.7 -> 181.7 us a call, q/k/v, o and down without
// GELU 108.6 -> 98.5 us on average; dev/NOTES_EMBED.md, sixteenth session).
// Why gelu_fast and not erff: the GELU is bound by instructions, not memory. erff's ~30 a value
// cost more than the GELU pass this kernel replaces; with gelu_fast's ~15, up + GELU takes 0.72
// of cuBLASLt + the pass on an H100 (0.82 with the multipliers doing all of it, worse with the
// finishers doing more than this quarter: dev/NOTES_EMBED.md, "A GEMM of our own"). Still so with
// the multipliers storing the first half: the finishers taking all of the second half's GELU
// made up + GELU 182.7 against 173.6 us a call (ncu, H100; likely their shared-memory reads and
// writes beside the MMAs, which are near shared memory's rate already).
#include <atomic>
#include <cstdlib>

#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/gelu_fast.cuh"
#include "backends/cuda/gemm_sm90a.h"
#include "backends/cuda/sm90a/gemm_sm90a_layout.cuh"
#include "backends/cuda/sm90a/sm90a.cuh"

namespace ferris::cuda {

namespace {

using namespace sm90;  // the tile sizes and layout (gemm_sm90a_layout.cuh), the PTX helpers

constexpr int kThreads = 384;
// A 4-stage ring (the layout header's 3 are the lab's) and a staging buffer of half a tile, 128 x
// 128, which the epilogue fills twice: the deeper ring keeps the multipliers fed.
constexpr int kRing = 4;
constexpr size_t kSmem = size_t(kRing) * kStageBytes + kBM * (kBN / 2) * 2 + 1024;
// Byte offset of 16-byte chunk `chunk` (0-15) of row `row` (0-127) in the staged half tile:
// block (row / 64, chunk / 8) of 64 x 64, the 128-byte swizzle as in staged_offset.
__device__ __forceinline__ uint32_t half_offset(int row, int chunk) {
    return ((row / 64) * 2 + chunk / 8) * 8192 + (row % 64) * 128 +
           (((chunk % 8) ^ (row % 8)) * 16);
}
constexpr int kMultiplierRegs = 200, kOtherRegs = 104;  // setmaxnreg: 256 x 200 + 128 x 104
// The finishers' share of the GELU: the last 64 columns, i.e. blocks 1 and 3 of the second staged
// half (see half_offset), whose 1,024 16-byte chunks they take in any order (the GELU is
// element-wise).
constexpr int kFinisherFirstChunk = 24, kFinishers = 96;

// The staged half tile (four 64 x 64 blocks, see half_offset) to y at (column n0, row m0), one bulk
// group; rows past M are not written.
template <typename T>
__device__ __forceinline__ void store_half(const CUtensorMap& y_map, const T* staged, int n0,
                                           int m0) {
    for (int b = 0; b < 4; ++b)
        tma_store_2d(&y_map, staged + b * 64 * 64, n0 + (b % 2) * 64, m0 + (b / 2) * 64);
    tma_store_commit();
}

// Two accumulators plus their biases, rounded to T (the Linear's output), [GELU'd], packed.
template <typename T>
__device__ __forceinline__ uint32_t finish_pair(float v0, float v1, bool gelu) {
    T pair[2] = {from_float<T>(v0), from_float<T>(v1)};
    if (gelu) {
        pair[0] = from_float<T>(gelu_fast<T>(to_float(pair[0])));
        pair[1] = from_float<T>(gelu_fast<T>(to_float(pair[1])));
    }
    return *reinterpret_cast<const uint32_t*>(pair);
}

template <typename T, bool kGelu>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_sm90a_kernel(const __grid_constant__ CUtensorMap x_map,
                      const __grid_constant__ CUtensorMap w_map,
                      const __grid_constant__ CUtensorMap y_map, const T* __restrict__ bias, int m,
                      int n, int k) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ uint8_t smem_raw[];
    // The 128-byte swizzle repeats every 1,024 bytes: buffers start on that boundary.
    T* smem =
        reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
    T* stage_a = smem;                               // kRing x (128 x 64)
    T* stage_b = smem + kRing * kStageA;             // kRing x (256 x 64)
    T* staged = smem + kRing * (kStageA + kStageB);  // 128 x 128, see half_offset
    __shared__ __align__(8) uint64_t full[kRing], empty[kRing], staged_full, staged_empty;

    const int n_tiles = n / kBN, tiles = ((m + kBM - 1) / kBM) * n_tiles, k_steps = k / kBK;
    const int group = threadIdx.x / 128, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (threadIdx.x == 0) {
        for (int s = 0; s < kRing; ++s) {
            mbar_init(&full[s], 1);   // the producer's arrive (plus the TMA bytes)
            mbar_init(&empty[s], 2);  // one arrive per multiplier warpgroup
        }
        mbar_init(&staged_full, 256);  // every multiplier thread, after its stmatrix
        mbar_init(&staged_empty, 1);   // the storer that issued the store, once it is read
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (group == 2) {
        setmaxnreg_dec<kOtherRegs>();
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
                    if (++s == kRing) s = 0, phase ^= 1;
                }
            }
            return;
        }
        // The finishers: their share of the GELU in the second staged half, then one of them
        // stores it (rows past M are not written). The multipliers store the first half.
        const int f = threadIdx.x - 288;
        uint32_t phase = 0;
        for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
            const int m0 = (tile / n_tiles) * kBM, n0 = (tile % n_tiles) * kBN;
            mbar_wait(&staged_full, phase);
            phase ^= 1;
            if constexpr (kGelu) {  // blocks 1 and 3: columns 192-255
                for (int c = f; c < 1024; c += kFinishers) {
                    uint4* chunk =
                        reinterpret_cast<uint4*>(staged + (c < 512 ? 1 : 3) * 64 * 64) + c % 512;
                    uint4 v = *chunk;
                    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
                    for (int i = 0; i < 8; ++i) e[i] = from_float<T>(gelu_fast<T>(to_float(e[i])));
                    *chunk = v;
                }
                fence_async_shared();
                named_barrier(1, kFinishers);
            }
            if (f == 0) {
                store_half(y_map, staged, n0 + 128, m0);
                tma_store_wait_read();
                mbar_arrive(&staged_empty);
            }
        }
        if (f == 0) tma_store_wait_all();
        return;
    }

    // The multipliers.
    setmaxnreg_inc<kMultiplierRegs>();
    const bool leader = threadIdx.x % 128 == 0;
    const int wg_warp = warp % 4;
    float d[128];
    int s = 0;
    uint32_t phase = 0, staged_phase = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int m0 = (tile / n_tiles) * kBM, n0 = (tile % n_tiles) * kBN;
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
            // The step before is done once at most this one is in flight: its stage goes back.
            wgmma_wait<1>();
            if (previous >= 0 && leader) mbar_arrive(&empty[previous]);
            previous = s;
            if (++s == kRing) s = 0, phase ^= 1;
        }
        wgmma_wait<0>();
        if (leader) mbar_arrive(&empty[previous]);
#pragma unroll
        for (int i = 0; i < 128; ++i) fence_operand(d[i]);

        // Fragment: d[4j + 2h + e] is row 16 wg_warp + lane/4 + 8h, column 8j + 2 (lane%4) + e.
        // stmatrix x4 takes the 8 x 8 matrices (j, top) (j, bottom) (j+1, top) (j+1, bottom);
        // lane l gives the address of row l % 8 of matrix l / 8. Columns 0-127 go first; those
        // of 128-255 are finished while the first half's store reads the buffer.
        const int mi = lane / 8, row = group * 64 + wg_warp * 16 + (mi % 2) * 8 + lane % 8;
        const uint32_t base = smem_u32(staged);
        // Column pair 8 (j + q) + 2 (lane % 4) of the thread's two rows: its bias loaded once.
        const auto finish = [&](int j, int q, uint32_t& top, uint32_t& bottom) {
            const int c = j + q, col = n0 + 8 * c + 2 * (lane % 4);
            float b0 = 0.0f, b1 = 0.0f;
            if (bias) {
                const uint32_t packed = *reinterpret_cast<const uint32_t*>(bias + col);
                const T* bp = reinterpret_cast<const T*>(&packed);
                b0 = to_float(bp[0]);
                b1 = to_float(bp[1]);
            }
            const bool gelu = kGelu && c < kFinisherFirstChunk;  // the rest: finishers
            top = finish_pair<T>(d[4 * c] + b0, d[4 * c + 1] + b1, gelu);
            bottom = finish_pair<T>(d[4 * c + 2] + b0, d[4 * c + 3] + b1, gelu);
        };
        mbar_wait(&staged_empty, staged_phase ^ 1);  // the last tile's second half has been read
        staged_phase ^= 1;
#pragma unroll
        for (int j = 0; j < 16; j += 2) {
            uint32_t r[4];
            finish(j, 0, r[0], r[1]);
            finish(j, 1, r[2], r[3]);
            stmatrix_x4(base + half_offset(row, j + mi / 2), r[0], r[1], r[2], r[3]);
        }
        // The first half goes out by one multiplier thread's TMA store, with no handoff.
        fence_async_shared();  // the stmatrix writes, before the TMA store reads them
        named_barrier(2, 256);
        if (threadIdx.x == 0) store_half(y_map, staged, n0, m0);
        uint32_t r[32];
#pragma unroll
        for (int j = 16; j < 32; j += 2) {
            const int i = 2 * (j - 16);
            finish(j, 0, r[i], r[i + 1]);
            finish(j, 1, r[i + 2], r[i + 3]);
        }
        if (threadIdx.x == 0) tma_store_wait_read();
        named_barrier(2, 256);  // the first half has been read
#pragma unroll
        for (int j = 16; j < 32; j += 2) {
            const int i = 2 * (j - 16);
            stmatrix_x4(base + half_offset(row, j - 16 + mi / 2), r[i], r[i + 1], r[i + 2],
                        r[i + 3]);
        }
        fence_async_shared();
        mbar_arrive(&staged_full);
    }
    if (threadIdx.x == 0) tma_store_wait_all();
#endif
}

// A TMA descriptor of a row-major (rows, cols) matrix of dt in boxes of box_rows x box_cols.
CUtensorMap make_map(const void* base, DType dt, int64_t rows, int64_t cols, int box_rows,
                     int box_cols) {
    CUtensorMap map;
    const CUresult r =
        encode_tile_map(map, base, dt == DType::BF16, rows, cols, box_rows, box_cols);
    if (r != CUDA_SUCCESS)
        fail(ErrorCode::Backend, "cuTensorMapEncodeTiled failed (CUresult ", int(r), ") for a ",
             rows, " x ", cols, " matrix");
    return map;
}

// Whether `device` is compute capability 9.0, asked once per device.
bool is_sm90(int device) {
    constexpr int kMaxDevices = 64;
    static std::atomic<int> answer[kMaxDevices] = {};  // 0 not asked, 1 yes, 2 no
    if (device < 0 || device >= kMaxDevices) return false;
    if (answer[device].load() == 0) {
        int major = 0, minor = 0;
        FERRIS_CUDA_CHECK(
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
        FERRIS_CUDA_CHECK(
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
        answer[device].store(major == 9 && minor == 0 ? 1 : 2);
    }
    return answer[device].load() == 1;
}

template <typename T, bool kGelu>
void launch(const CUtensorMap& x_map, const CUtensorMap& w_map, const CUtensorMap& y_map,
            const void* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
    auto* kernel = gemm_sm90a_kernel<T, kGelu>;
    int device = 0, sms = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    FERRIS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    // The shared-memory opt-in is per device and per kernel: set once for each.
    static std::atomic<uint64_t> opted_in{0};
    const uint64_t bit = uint64_t(1) << (device & 63);
    if (!(opted_in.load() & bit)) {
        FERRIS_CUDA_CHECK(
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmem)));
        opted_in.fetch_or(bit);
    }
    const int64_t tiles = ((m + kBM - 1) / kBM) * (n / kBN);
    const int grid = int(tiles < sms ? tiles : sms);
    kernel<<<grid, kThreads, kSmem, stream>>>(x_map, w_map, y_map, static_cast<const T*>(bias),
                                              int(m), int(n), int(k));
    FERRIS_CUDA_LAUNCH_CHECK("gemm_sm90a_kernel");
}

}  // namespace

bool gemm_sm90a_fits(DType dt, int64_t m, int64_t n, int64_t k, const void* y, const void* x,
                     const void* w, const void* bias) {
    static const bool disabled = std::getenv("FERRIS_CUDA_NO_SM90A_GEMM") != nullptr;
    if (disabled || (dt != DType::F16 && dt != DType::BF16)) return false;
    const auto aligned = [](const void* p, uintptr_t a) {
        return reinterpret_cast<uintptr_t>(p) % a == 0;
    };
    const bool shapes = m >= 1 && m < (int64_t(1) << 31) && n >= kBN && n % kBN == 0 &&
                        n < (int64_t(1) << 31) && k >= kBK && k % kBK == 0 &&
                        k < (int64_t(1) << 31);
    if (!shapes || !aligned(y, 16) || !aligned(x, 16) || !aligned(w, 16) ||
        (bias && !aligned(bias, 4)))
        return false;
    int device = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    return is_sm90(device) && tensor_map_encoder() != nullptr;
}

void gemm_sm90a(void* y, const void* x, const void* w, const void* bias, DType dt, bool gelu,
                int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
    const CUtensorMap x_map = make_map(x, dt, m, k, kBM, kBK);
    const CUtensorMap w_map = make_map(w, dt, n, k, kBN, kBK);
    const CUtensorMap y_map = make_map(y, dt, m, n, 64, 64);
    if (dt == DType::BF16) {
        if (gelu)
            launch<__nv_bfloat16, true>(x_map, w_map, y_map, bias, m, n, k, stream);
        else
            launch<__nv_bfloat16, false>(x_map, w_map, y_map, bias, m, n, k, stream);
    } else {
        if (gelu)
            launch<__half, true>(x_map, w_map, y_map, bias, m, n, k, stream);
        else
            launch<__half, false>(x_map, w_map, y_map, bias, m, n, k, stream);
    }
}

}  // namespace ferris::cuda
