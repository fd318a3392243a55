// AVX512-BF16 GEMM (see gemm_bf16.h), two kernels:
// - few rows (decode): dot-product tiles of RM activation rows x RN weight rows, RM*RN zmm
//   accumulators walking K 32 bf16 at a time, one horizontal sum each at the end; bandwidth-bound.
// - many rows (prefill): weights packed per call into 32-column panels of (k, k+1) pairs and
//   multiplied as outer products (broadcast activation pair x panel), so no reductions at all.
// On CPUs with AMX, many rows go to the tile unit instead (gemm_amx.h).
#include "backends/cpu/gemm_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/gemm_amx.h"
#include "backends/cpu/op_trace.h"
#include "backends/cpu/scratch.h"
#include "backends/cpu/transpose16.h"
#include "core/parallel.h"
#include "ferris/dtype.h"
#include "ferris/threads.h"

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

// Decode (1-3 rows): 8 weight rows per tile with a software prefetch 512 bytes ahead on each
// row; measured on Zen 4 this reaches single-core DRAM bandwidth (6 rows/no prefetch: half).
constexpr int kPrefetch = 512;
constexpr int64_t kGemvRows = 8;
// From this many activation rows on, the packed outer-product kernel below is used (1.4x the
// reduction tiles at pp256 on Zen 4).
constexpr int64_t kPackedMinRows = 16;
// From this many rows on (and 32 outputs), the AMX tile unit where there is one.
constexpr int64_t kAmxMinRows = 32;

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
            if (RM == 1)
                _mm_prefetch(reinterpret_cast<const char*>(w + n * ldw + i) + kPrefetch,
                             _MM_HINT_T0);
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
        case 1:
            return tile<RM, 1>;
        case 2:
            return tile<RM, 2>;
        case 3:
            return tile<RM, 3>;
        case 4:
            return tile<RM, 4>;
        case 5:
            return tile<RM, 5>;
        case 6:
            return tile<RM, 6>;
        case 7:
            return tile<RM, 7>;
        default:
            return tile<RM, 8>;
    }
}

TileFn tile_fn(int rm, int rn) {
    switch (rm) {
        case 1:
            return tile_for<1>(rn);
        case 2:
            return tile_for<2>(rn);
        case 3:
            return tile_for<3>(rn);
        default:
            return tile_for<4>(rn);
    }
}

// ---- Packed path for many rows (prefill): BLIS-style outer products, no reductions. ----
// Weights are packed per call into panels of 32 output columns where each 32-bit lane holds a
// (w[k], w[k+1]) pair, so one vdpbf16ps with a broadcast (x[k], x[k+1]) pair updates 16 outputs.
constexpr int kPanel = 32;    // output columns per panel (2 zmm)
constexpr int kMR = 12;       // activation rows per micro-tile (24 accumulators)
constexpr int64_t kKC = 256;  // K block (128 pairs): a packed panel is 16 KB, L1-resident

// panel[p][j] = pair k = k0 + 2p of output column o0 + j (zero past the matrix edges). Each
// 16 columns x 16 pairs are one register transpose (a row's 32 bf16 values are its 16 pairs).
void pack_panel(uint32_t* panel, const uint16_t* w, int64_t ldw, int64_t o0, int64_t ocount,
                int64_t k0, int64_t kcount) {
    const int64_t pairs = (kcount + 1) / 2;
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
        const int64_t left = kcount - 2 * p0;  // values of each row from pair p0 on
        const __mmask32 m = left >= 32 ? ~0u : (1u << left) - 1u;
        const int64_t np = std::min<int64_t>(16, pairs - p0);
        for (int64_t half = 0; half < kPanel / 16; ++half) {
            __m512i r[16];
            for (int64_t j = 0; j < 16; ++j) {
                const int64_t col = half * 16 + j;
                r[j] = col < ocount
                           ? _mm512_maskz_loadu_epi16(m, w + (o0 + col) * ldw + k0 + 2 * p0)
                           : _mm512_setzero_si512();
            }
            transpose16(r);
            for (int64_t p = 0; p < np; ++p)
                _mm512_storeu_si512(panel + (p0 + p) * kPanel + half * 16, r[p]);
        }
    }
}

// C[MR x 32] (+)= X[MR x kcount] * panel. x rows are bf16 with an even stride `ldx` and zero
// padding, so a pair read never leaves the row.
template <int MR>
void micro_kernel(float* c, int64_t ldc, int64_t ccount, const uint16_t* x, int64_t ldx,
                  const uint32_t* panel, int64_t pairs, bool accumulate) {
    __m512 acc[MR][2];
    const __mmask16 m0 = ccount >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << ccount) - 1u);
    const __mmask16 m1 =
        ccount >= 32 ? 0xFFFF
                     : (ccount <= 16 ? 0 : static_cast<__mmask16>((1u << (ccount - 16)) - 1u));
    for (int m = 0; m < MR; ++m) {
        acc[m][0] = accumulate ? _mm512_maskz_loadu_ps(m0, c + m * ldc) : _mm512_setzero_ps();
        acc[m][1] = accumulate ? _mm512_maskz_loadu_ps(m1, c + m * ldc + 16) : _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < pairs; ++p) {
        const __m512i w0 = _mm512_loadu_si512(panel + p * kPanel);
        const __m512i w1 = _mm512_loadu_si512(panel + p * kPanel + 16);
        for (int m = 0; m < MR; ++m) {
            int32_t pair;
            std::memcpy(&pair, x + m * ldx + 2 * p, 4);
            const __m512i xv = _mm512_set1_epi32(pair);
            acc[m][0] = _mm512_dpbf16_ps(acc[m][0], reinterpret_cast<const __m512bh&>(xv),
                                         reinterpret_cast<const __m512bh&>(w0));
            acc[m][1] = _mm512_dpbf16_ps(acc[m][1], reinterpret_cast<const __m512bh&>(xv),
                                         reinterpret_cast<const __m512bh&>(w1));
        }
    }
    for (int m = 0; m < MR; ++m) {
        _mm512_mask_storeu_ps(c + m * ldc, m0, acc[m][0]);
        _mm512_mask_storeu_ps(c + m * ldc + 16, m1, acc[m][1]);
    }
}

// Rows [r_begin, r_end) against one packed panel (output columns o0.., oc of them), micro-tiles
// of kMR rows and single rows for the rest.
void rows_against_panel(float* out, int64_t outs, int64_t o0, int64_t oc, const uint16_t* xb,
                        int64_t ldx, int64_t k0, const uint32_t* panel, int64_t pairs,
                        int64_t r_begin, int64_t r_end, bool accumulate) {
    int64_t r = r_begin;
    for (; r + kMR <= r_end; r += kMR)
        micro_kernel<kMR>(out + r * outs + o0, outs, oc, xb + r * ldx + k0, ldx, panel, pairs,
                          accumulate);
    for (; r < r_end; ++r)
        micro_kernel<1>(out + r * outs + o0, outs, oc, xb + r * ldx + k0, ldx, panel, pairs,
                        accumulate);
}

// Each work item packs one panel (per K block) and walks its rows against it: right while the
// activations stay in L2, as they do for a short prompt or a few texts.
void gemm_bf16_panel_major(float* out, const uint16_t* xb, int64_t ldx, const uint16_t* w,
                           int64_t rows, int64_t in, int64_t outs) {
    // Work items = (panel, row group). Row groups exist so that narrow matrices (k/v
    // projections: 4 panels) still spread over every thread; each item packs its own panel.
    const int64_t panels = (outs + kPanel - 1) / kPanel;
    const int64_t threads = num_threads();
    const int64_t row_tiles = (rows + kMR - 1) / kMR;
    const int64_t groups = std::clamp<int64_t>((threads * 8 + panels - 1) / panels, 1,
                                               std::max<int64_t>(1, row_tiles / 2));
    const int64_t tiles_per_group = (row_tiles + groups - 1) / groups;
    parallel_for(panels * groups, 1, [&](int64_t item0, int64_t item1) {
        std::vector<uint32_t> panel(static_cast<size_t>(kKC / 2 * kPanel));
        for (int64_t item = item0; item < item1; ++item) {
            const int64_t pi = item / groups, g = item % groups;
            const int64_t o0 = pi * kPanel, oc = std::min<int64_t>(kPanel, outs - o0);
            const int64_t r_begin = std::min(rows, g * tiles_per_group * kMR);
            const int64_t r_end = std::min(rows, (g + 1) * tiles_per_group * kMR);
            for (int64_t k0 = 0; k0 < in; k0 += kKC) {
                const int64_t kc = std::min(kKC, in - k0), pairs = (kc + 1) / 2;
                pack_panel(panel.data(), w, in, o0, oc, k0, kc);
                rows_against_panel(out, outs, o0, oc, xb, ldx, k0, panel.data(), pairs, r_begin,
                                   r_end, k0 > 0);
            }
        }
    });
}

// Weights are packed once a call, a batch of panels at a time, and the rows are cut into blocks
// of kMC that each thread multiplies against every panel of the batch: a block's activations
// (96 rows x 256 values, 48 KB) and its partial sums (96 x 32 floats a panel) stay in L1 / L2
// while the panels go by. The batch bounds the packed copy (64 panels x K: 4 MB at K = 896) for
// wide products such as an LM head.
constexpr int64_t kMC = 8 * kMR;
constexpr int64_t kPanelBatch = 64;

void gemm_bf16_row_blocked(float* out, const uint16_t* xb, int64_t ldx, const uint16_t* w,
                           int64_t rows, int64_t in, int64_t outs) {
    const int64_t panels = (outs + kPanel - 1) / kPanel;
    const int64_t kblocks = (in + kKC - 1) / kKC;
    constexpr int64_t kSlot = kKC / 2 * kPanel;  // words of one (panel, K block) packing
    const int64_t batch_panels = std::min(panels, kPanelBatch);
    uint32_t* packed = thread_scratch<struct PackedWeights, uint32_t>(
        static_cast<size_t>(batch_panels * kblocks * kSlot));
    const int64_t threads = num_threads();
    const int64_t row_blocks = (rows + kMC - 1) / kMC;
    for (int64_t p_begin = 0; p_begin < panels; p_begin += kPanelBatch) {
        const int64_t p_count = std::min(kPanelBatch, panels - p_begin);
        parallel_for(p_count * kblocks, 1, [&](int64_t s0, int64_t s1) {
            for (int64_t slot = s0; slot < s1; ++slot) {
                const int64_t pi = p_begin + slot / kblocks, k0 = (slot % kblocks) * kKC;
                const int64_t o0 = pi * kPanel;
                pack_panel(packed + slot * kSlot, w, in, o0, std::min<int64_t>(kPanel, outs - o0),
                           k0, std::min(kKC, in - k0));
            }
        });
        // More threads than row blocks can keep busy: the batch's panels are shared out too.
        const int64_t chunks =
            std::clamp<int64_t>((threads * 4 + row_blocks - 1) / row_blocks, 1, p_count);
        const int64_t per_chunk = (p_count + chunks - 1) / chunks;
        parallel_for(row_blocks * chunks, 1, [&](int64_t item0, int64_t item1) {
            for (int64_t item = item0; item < item1; ++item) {
                const int64_t r_begin = (item / chunks) * kMC;
                const int64_t r_end = std::min(rows, r_begin + kMC);
                const int64_t q_begin = (item % chunks) * per_chunk;
                const int64_t q_end = std::min(p_count, q_begin + per_chunk);
                for (int64_t kb = 0; kb < kblocks; ++kb) {
                    const int64_t k0 = kb * kKC, pairs = (std::min(kKC, in - k0) + 1) / 2;
                    for (int64_t q = q_begin; q < q_end; ++q) {
                        const int64_t o0 = (p_begin + q) * kPanel;
                        const int64_t oc = std::min<int64_t>(kPanel, outs - o0);
                        const uint32_t* panel = packed + (q * kblocks + kb) * kSlot;
                        rows_against_panel(out, outs, o0, oc, xb, ldx, k0, panel, pairs, r_begin,
                                           r_end, kb > 0);
                    }
                }
            }
        });
    }
}

// Many rows are blocked: walking every row against one panel, the activations and each K
// block's partial sums (rows x 32 floats) leave L2 before they are used again (the likely cause;
// not profiled). 2 Zen 5 threads, bf16, 100
// docs (7,490 rows): e5-small-v2 772-846 ms against 926-987 panel-major, all-mpnet-base-v2 2,566-
// 2,842 against 3,488-3,749 (and 3,079-3,100 with groups of at most 1,024 rows instead); Qwen's
// pp512 within noise either way, pp128 and 4 texts 1.1x slower blocked.
constexpr int64_t kBlockedMinRows = 2048;

void gemm_bf16_packed(float* out, const uint16_t* xb, int64_t ldx, const uint16_t* w, int64_t rows,
                      int64_t in, int64_t outs) {
    if (rows >= kBlockedMinRows)
        gemm_bf16_row_blocked(out, xb, ldx, w, rows, in, outs);
    else
        gemm_bf16_panel_major(out, xb, ldx, w, rows, in, outs);
}

}  // namespace

void gemm_bf16(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
               int64_t outs) {
    if (rows >= kAmxMinRows && outs >= 32 && amx_usable()) {
        TraceScope trace("gemm_bf16_amx");
        gemm_bf16_amx(out, x, w, rows, in, outs);
        return;
    }
    if (rows >= kPackedMinRows) {
        TraceScope trace("gemm_bf16_packed");
        // Even row stride with a zero pad: the packed kernel reads x in (k, k+1) pairs.
        const int64_t ldx = (in + 1) / 2 * 2;
        uint16_t* xp =
            thread_scratch<struct PackedActivations, uint16_t>(static_cast<size_t>(rows * ldx));
        parallel_for(rows, min_grain_for(in), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                to_bf16(xp + r * ldx, x + r * in, in);
                if (ldx > in) xp[r * ldx + in] = 0;
            }
        });
        gemm_bf16_packed(out, xp, ldx, w, rows, in, outs);
        return;
    }
    TraceScope trace("gemm_bf16_rows");
    constexpr int64_t kRM = 4;
    const int64_t kRN = rows < kRM ? kGemvRows : 6;
    std::vector<uint16_t> xb(static_cast<size_t>(rows * in));
    parallel_for(rows, min_grain_for(in), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) to_bf16(xb.data() + r * in, x + r * in, in);
    });

    // A range of contiguous kRN-row weight blocks at a time. Activations go in chunks small
    // enough for L2 (so a long K, as in down_proj, is not re-read from L3 per block); within a
    // chunk the range's weight blocks are walked against every activation tile.
    const int64_t wblocks = (outs + kRN - 1) / kRN;
    const int64_t row_chunk = std::max<int64_t>(kRM, (256 * 1024 / (in * 2)) / kRM * kRM);
    parallel_for(wblocks, min_grain_for(kRN * rows * in), [&](int64_t b_begin, int64_t b_end) {
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
    });
}

#else

bool have_bf16_gemm() { return false; }

void gemm_bf16(float*, const float*, const uint16_t*, int64_t, int64_t, int64_t) {}

#endif

}  // namespace ferris::cpu
