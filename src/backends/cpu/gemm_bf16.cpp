// AVX512-BF16 GEMM (see gemm_bf16.h). Register tiling in the style of llamafile's tinyBLAS:
// a tile of RM activation rows x RN weight rows keeps RM*RN accumulators in zmm registers,
// walks K in steps of 32 bf16 (masked tail), and reduces each accumulator once at the end.
// Tiles are distributed over OpenMP threads weight-block-major so a thread's weight rows stay
// in L1 while activations stream from L2.
#include "backends/cpu/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "ferris/dtype.h"

namespace ferris::cpu {

#if defined(__AVX512BF16__) && defined(__AVX512BW__)

bool have_bf16_gemm() { return true; }

namespace {

// Rounds n floats to bf16 (nearest even), 32 at a time.
void to_bf16(uint16_t* dst, const float* src, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i&>(v));
    }
    for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

#ifndef FERRIS_GEMV_PREFETCH
#define FERRIS_GEMV_PREFETCH 512
#endif
constexpr int kPrefetch = FERRIS_GEMV_PREFETCH;  // bytes ahead on each weight row (decode)

template <int RM, int RN>
void tile(float* out, int64_t ldo, const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t ldw,
          int64_t k) {
    __m512 acc[RM][RN];
    for (int m = 0; m < RM; ++m)
        for (int n = 0; n < RN; ++n) acc[m][n] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        __m512i wv[RN];
        for (int n = 0; n < RN; ++n) {
            if (RM == 1) _mm_prefetch(reinterpret_cast<const char*>(w + n * ldw + i) + kPrefetch, _MM_HINT_T0);
            wv[n] = _mm512_loadu_si512(w + n * ldw + i);
        }
        for (int m = 0; m < RM; ++m) {
            const __m512i xv = _mm512_loadu_si512(x + m * ldx + i);
            for (int n = 0; n < RN; ++n)
                acc[m][n] = _mm512_dpbf16_ps(acc[m][n], reinterpret_cast<const __m512bh&>(xv),
                                             reinterpret_cast<const __m512bh&>(wv[n]));
        }
    }
    if (i < k) {
        const __mmask32 mask = (k - i) >= 32 ? ~0u : ((1u << (k - i)) - 1u);
        __m512i wv[RN];
        for (int n = 0; n < RN; ++n) wv[n] = _mm512_maskz_loadu_epi16(mask, w + n * ldw + i);
        for (int m = 0; m < RM; ++m) {
            const __m512i xv = _mm512_maskz_loadu_epi16(mask, x + m * ldx + i);
            for (int n = 0; n < RN; ++n)
                acc[m][n] = _mm512_dpbf16_ps(acc[m][n], reinterpret_cast<const __m512bh&>(xv),
                                             reinterpret_cast<const __m512bh&>(wv[n]));
        }
    }
    for (int m = 0; m < RM; ++m)
        for (int n = 0; n < RN; ++n) out[m * ldo + n] = _mm512_reduce_add_ps(acc[m][n]);
}

using TileFn = void (*)(float*, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t,
                        int64_t);

template <int RM>
TileFn tile_for(int rn) {
    switch (rn) {
        case 1: return tile<RM, 1>;
        case 2: return tile<RM, 2>;
        case 3: return tile<RM, 3>;
        case 4: return tile<RM, 4>;
        case 5: return tile<RM, 5>;
        case 6: return tile<RM, 6>;
        case 7: return tile<RM, 7>;
        default: return tile<RM, 8>;
    }
}

TileFn tile_fn(int rm, int rn) {
    switch (rm) {
        case 1: return tile_for<1>(rn);
        case 2: return tile_for<2>(rn);
        case 3: return tile_for<3>(rn);
        default: return tile_for<4>(rn);
    }
}

}  // namespace

void gemm_bf16(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
               int64_t outs) {
#ifndef FERRIS_GEMV_RN
#define FERRIS_GEMV_RN 8
#endif
    constexpr int64_t kRM = 4;
    const int64_t kRN = rows < kRM ? FERRIS_GEMV_RN : 6;
    std::vector<uint16_t> xb(static_cast<size_t>(rows * in));
#pragma omp parallel for schedule(static) if (rows * in > 65536)
    for (int64_t r = 0; r < rows; ++r) to_bf16(xb.data() + r * in, x + r * in, in);

    // Each thread owns a contiguous range of kRN-row weight blocks. Activations go in chunks
    // small enough for L2 (so a long K, as in down_proj, is not re-read from L3 per block);
    // within a chunk the thread's weight blocks are walked against every activation tile.
    const int64_t wblocks = (outs + kRN - 1) / kRN;
    const int64_t row_chunk = std::max<int64_t>(kRM, (256 * 1024 / (in * 2)) / kRM * kRM);
#pragma omp parallel if (wblocks * rows * in > 32768)
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t b_begin = wblocks * t / nt, b_end = wblocks * (t + 1) / nt;
        for (int64_t r0 = 0; r0 < rows; r0 += row_chunk) {
            const int64_t r1 = std::min(rows, r0 + row_chunk);
            for (int64_t b = b_begin; b < b_end; ++b) {
                const int64_t o0 = b * kRN, rn = std::min(kRN, outs - o0);
                const uint16_t* wb = w + o0 * in;
                for (int64_t r = r0; r < r1; r += kRM) {
                    const int64_t rm = std::min(kRM, r1 - r);
                    tile_fn(static_cast<int>(rm), static_cast<int>(rn))(
                        out + r * outs + o0, outs, xb.data() + r * in, in, wb, in, in);
                }
            }
        }
    }
}

#else

bool have_bf16_gemm() { return false; }

void gemm_bf16(float*, const float*, const uint16_t*, int64_t, int64_t, int64_t) {}

#endif

}  // namespace ferris::cpu
