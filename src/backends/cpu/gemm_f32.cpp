// Register blocks of R activation rows x S weight rows, accumulated along I in vectors and summed
// across lanes at the end: each weight vector loaded serves R rows, each activation vector S
// weight rows. A thread takes S weight rows at a time and runs every activation row against them
// while they sit in L1.
#include "backends/cpu/gemm_f32.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "backends/cpu/blas.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"
#include "ferris/error.h"
#include "ferris/threads.h"

namespace ferris::cpu {

namespace {

// Accumulators R x S plus S weight vectors and one activation vector fit the register file:
// 32 vector registers with AVX-512, 16 with AVX2.
constexpr int kRows = 4;
constexpr int kCols = kLanes == 16 ? 4 : 2;

// Weights of dtype DT, converted to f32 as they are loaded.
template <DType DT>
const void* weight_at(const void* w, int64_t i) {
    if constexpr (DT == DType::F32) return static_cast<const float*>(w) + i;
    return static_cast<const uint16_t*>(w) + i;
}
template <DType DT>
VecF load_weights(const void* w, int64_t i) {
    if constexpr (DT == DType::F32) return vload(static_cast<const float*>(w) + i);
    return vload(static_cast<const uint16_t*>(w) + i, DT);
}

template <DType DT, int R, int S>
void block(float* out, int64_t ldo, const float* x, const void* w, int64_t in,
           const void* ahead = nullptr) {
    VecF acc[R][S];
    for (int r = 0; r < R; ++r)
        for (int s = 0; s < S; ++s) acc[r][s] = vzero();
    int64_t i = 0;
    for (; i + kLanes <= in; i += kLanes) {
        VecF wv[S];
        for (int s = 0; s < S; ++s) wv[s] = load_weights<DT>(w, s * in + i);
        if (ahead)
            for (int s = 0; s < S; ++s)
                _mm_prefetch(static_cast<const char*>(weight_at<DT>(ahead, s * in + i)),
                             _MM_HINT_T0);
        for (int r = 0; r < R; ++r) {
            const VecF xv = vload(x + r * in + i);
            for (int s = 0; s < S; ++s) acc[r][s] = vfma(xv, wv[s], acc[r][s]);
        }
    }
    // Lane sums four accumulators at a time (in r, s order), then the columns past the vectors.
    float sums[R * S];
    constexpr int kFours = R * S / 4 * 4;
    for (int k = 0; k < kFours; k += 4)
        vsum4(acc[k / S][k % S], acc[(k + 1) / S][(k + 1) % S], acc[(k + 2) / S][(k + 2) % S],
              acc[(k + 3) / S][(k + 3) % S], sums + k);
    for (int k = kFours; k < R * S; ++k) sums[k] = vsum(acc[k / S][k % S]);
    for (int r = 0; r < R; ++r)
        for (int s = 0; s < S; ++s) {
            float sum = sums[r * S + s];
            for (int64_t j = i; j < in; ++j) sum += x[r * in + j] * load_float(w, DT, s * in + j);
            out[r * ldo + s] = sum;
        }
}

// Rows [0, rows) of x against weight rows [o, o + S).
template <DType DT, int S>
void column(float* out, const float* x, const void* w, int64_t rows, int64_t in, int64_t outs,
            int64_t o) {
    // The first block also prefetches the next group's weight rows (they follow these in
    // memory): a query's weights come from DRAM, and the next group's loads then overlap this
    // group's arithmetic. e5-small-v2, one query, f32, 2 Zen 4 threads: 8.7 -> 7.4 ms.
    const void* ahead = o + 2 * S <= outs ? weight_at<DT>(w, (o + S) * in) : nullptr;
    const void* wo = weight_at<DT>(w, o * in);
    int64_t r = 0;
    for (; r + kRows <= rows; r += kRows)
        block<DT, kRows, S>(out + r * outs + o, outs, x + r * in, wo, in, r == 0 ? ahead : nullptr);
    switch (rows - r) {
        case 3:
            block<DT, 3, S>(out + r * outs + o, outs, x + r * in, wo, in);
            break;
        case 2:
            block<DT, 2, S>(out + r * outs + o, outs, x + r * in, wo, in);
            break;
        case 1:
            block<DT, 1, S>(out + r * outs + o, outs, x + r * in, wo, in);
            break;
        default:
            break;
    }
}

template <DType DT>
void gemm_dtype(float* out, const float* x, const void* w, int64_t rows, int64_t in, int64_t outs) {
    const int64_t groups = (outs + kCols - 1) / kCols;
    // A thread's weight rows go over the activations a chunk of rows at a time, ~256 KB of them,
    // so that the chunk stays in L2 while those weight rows pass.
    const int64_t chunk =
        std::max<int64_t>(kRows, 65536 / std::max<int64_t>(1, in) / kRows * kRows);
    parallel_for(groups, min_grain_for(rows * in * kCols), [&](int64_t g0, int64_t g1) {
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            const int64_t rc = std::min(chunk, rows - r0);
            float* o_rows = out + r0 * outs;
            const float* x_rows = x + r0 * in;
            for (int64_t g = g0; g < g1; ++g) {
                const int64_t o = g * kCols;
                if (o + kCols <= outs) {
                    column<DT, kCols>(o_rows, x_rows, w, rc, in, outs, o);
                } else {
                    for (int64_t k = o; k < outs; ++k)
                        column<DT, 1>(o_rows, x_rows, w, rc, in, outs, k);
                }
            }
        }
    });
}

}  // namespace

bool gemm_f32_takes(int64_t rows, DType w_dtype) {
    static const char* asked = std::getenv("FERRIS_CPU_GEMM_F32_ROWS");
    if (asked) return rows <= std::max<int64_t>(0, std::atoll(asked));
    // Against gemm_blas (bench_ops, 384 -> 1,536 and 1,536 -> 384).
    // OpenBLAS with AVX-512 kernels (SkylakeX, Cooperlake; blas.cpp names one for AVX-512 CPUs):
    // gemm_blas packs x once per block of W, which many threads pay many times, so the limit for
    // f32 weights grows with the threads. This Zen 5 at 2 threads (medians of 30): 155-177
    // against 185-198 us at 32 rows, 201-265 against 164-232 at 48, 10% slower at 64; the GPU
    // machine's Xeon (noisy) about even from 64 to 256 rows at 2 threads, and at 16 threads
    // gemm_f32 up to 1.3x faster at 256-512 rows (e5-small-v2 and all-mpnet-base-v2, 4 texts,
    // 331 tokens: 2 threads 8-26% faster through OpenBLAS, 16 threads 5-15% slower). Half weights
    // (converted as loaded, against a converted copy + OpenBLAS) even at 48 rows on the Zen 5,
    // 1.3x slower at 96.
    // OpenBLAS with AVX2 kernels (Haswell, Zen): f32 weights, AVX-512 even at 1,024 rows; AVX2
    // (4 x 2 blocks) 16 rows 161 against 178 us, even at 24, 10-20% slower at 48. Half weights
    // are converted once per 4-row block, which costs little on AMD and competes with the
    // multiplies on Intel: Zen 5 against AVX2 OpenBLAS, AVX-512 f16 0.55-1.0 of the time from 48
    // to 1,024 rows, AVX2 bf16 0.6 at 32 rows, even at 128-160; the Xeon (AVX-512, f16) 1.4-2x
    // slower at 512 rows against its named SkylakeX core.
    // Every limit is at least 24 rows: a query's products decide without loading OpenBLAS.
    if (rows <= 24) return true;
    static const bool cheap_conversion = __builtin_cpu_is("amd");
    static const bool wide_blas = blas_has_avx512_kernels();
    int64_t limit = 48;
    if (w_dtype == DType::F32) {
        if (kLanes != 16) {
            limit = 24;
        } else {
            limit = wide_blas ? std::clamp<int64_t>(32 * int64_t{num_threads()}, 32, 512) : 512;
        }
    } else if (cheap_conversion && !wide_blas) {
        limit = kLanes == 16 ? std::numeric_limits<int64_t>::max() : 128;
    }
    return rows <= limit || !blas_has_avx2_kernels();
}

void gemm_f32(float* out, const float* x, const void* w, DType w_dtype, int64_t rows, int64_t in,
              int64_t outs) {
    switch (w_dtype) {
        case DType::F32:
            return gemm_dtype<DType::F32>(out, x, w, rows, in, outs);
        case DType::BF16:
            return gemm_dtype<DType::BF16>(out, x, w, rows, in, outs);
        case DType::F16:
            return gemm_dtype<DType::F16>(out, x, w, rows, in, outs);
        default:
            fail(ErrorCode::Unsupported, "gemm_f32: weights of dtype ", dtype_name(w_dtype));
    }
}

}  // namespace ferris::cpu
