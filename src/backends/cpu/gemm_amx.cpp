// Intel AMX bf16 GEMM (see gemm_amx.h). The product is computed transposed, C^T = W X^T, so that
// the weights are the tiles' A operand and load straight from their row-major rows (16 rows of
// 32 k values, 64 bytes each): only the activations are repacked, once a call, into the B
// operand's layout (16 k pairs x 16 tokens, each 32-bit lane a (k, k+1) pair of one token). Each
// finished C^T tile is transposed back on its way out. One loop body serves the tile unit and a
// scalar emulation of it, so that the layouts are tested on any machine.
#include "backends/cpu/gemm_amx.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backends/cpu/scratch.h"
#include "backends/cpu/transpose16.h"
#include "core/parallel.h"
#include "ferris/dtype.h"
#include "ferris/threads.h"

#if defined(__x86_64__) && defined(__AVX512BF16__) && defined(__AVX512BW__)
#define FERRIS_AMX_BUILD 1
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ferris::cpu {

#ifdef FERRIS_AMX_BUILD

namespace {

constexpr int64_t kStep = 32;             // k values one tile step multiplies (64 bytes of bf16)
constexpr int64_t kPanel = 32;            // output columns an item computes: two A tiles
constexpr int64_t kBlock = 32;            // tokens a group of four C tiles covers: two B tiles
constexpr int64_t kTileWords = 256;       // 32-bit words in a 16 x 64-byte tile
constexpr int64_t kChunkBytes = 1 << 20;  // a token chunk's packed activations stay in L2

inline __mmask16 first_lanes(int64_t n) {
    return n <= 0 ? 0 : (n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1u));
}

// xp: [token tile][k step][pair 0..15][token 0..15], each word a bf16 pair (low half: the even
// k), zero past the last row and past `in`. token_tiles is even: a block's second tile exists.
void pack_activations(uint32_t* xp, const float* x, int64_t rows, int64_t in, int64_t token_tiles,
                      int64_t steps) {
    parallel_for(token_tiles, 1, [&](int64_t tile0, int64_t tile1) {
        for (int64_t tile = tile0; tile < tile1; ++tile)
            for (int64_t s = 0; s < steps; ++s) {
                const int64_t k0 = s * kStep;
                const __mmask16 lo = first_lanes(in - k0), hi = first_lanes(in - k0 - 16);
                __m512i r[16];
                for (int t = 0; t < 16; ++t) {
                    const int64_t row = tile * 16 + t;
                    if (row >= rows) {
                        r[t] = _mm512_setzero_si512();
                        continue;
                    }
                    const float* src = x + row * in + k0;
                    __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + 16),
                                                     _mm512_maskz_loadu_ps(lo, src));
                    r[t] = reinterpret_cast<__m512i&>(v);
                }
                transpose16(r);
                uint32_t* dst = xp + (tile * steps + s) * kTileWords;
                for (int p = 0; p < 16; ++p) _mm512_storeu_si512(dst + p * 16, r[p]);
            }
    });
}

// Four finished C^T tiles (c[2 * column half + token half], rows = output columns) into out's
// rows t0.. (those below `rows`), columns o0 + skip.. (the ones this panel owns).
void write_back(float* out, float (*c)[kTileWords], int64_t t0, int64_t rows, int64_t o0,
                int64_t skip, int64_t outs) {
    for (int half_o = 0; half_o < 2; ++half_o) {
        const int64_t lead = skip - half_o * 16;  // columns of this half another panel wrote
        const __mmask16 cols = lead <= 0 ? 0xFFFF : (lead >= 16 ? 0 : 0xFFFF << lead);
        if (!cols) continue;
        for (int half_t = 0; half_t < 2; ++half_t) {
            __m512i r[16];
            const float* tile = c[2 * half_o + half_t];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(tile + i * 16);
            transpose16(r);
            for (int i = 0; i < 16; ++i) {
                const int64_t t = t0 + half_t * 16 + i;
                if (t >= rows) break;
                _mm512_mask_storeu_ps(out + t * outs + o0 + half_o * 16, cols,
                                      _mm512_castsi512_ps(r[i]));
            }
        }
    }
}

// The tile unit emulated: eight 16 x 64-byte tiles, tdpbf16ps as its definition reads.
struct EmulatedTiles {
    alignas(64) unsigned char t[8][16][64];
    void begin() {}
    void end() {}
    template <int I>
    void zero() {
        std::memset(t[I], 0, sizeof t[I]);
    }
    template <int I>
    void load(const void* p, int64_t stride) {
        for (int r = 0; r < 16; ++r)
            std::memcpy(t[I][r], static_cast<const unsigned char*>(p) + r * stride, 64);
    }
    template <int I>
    void store(void* p, int64_t stride) {
        for (int r = 0; r < 16; ++r)
            std::memcpy(static_cast<unsigned char*>(p) + r * stride, t[I][r], 64);
    }
    float bf16_at(int tile, int row, int element) const {
        uint16_t h;
        std::memcpy(&h, t[tile][row] + 2 * element, 2);
        return bf16_to_f32(h);
    }
    template <int C, int A, int B>
    void dp() {
        for (int m = 0; m < 16; ++m)
            for (int n = 0; n < 16; ++n) {
                float acc;
                std::memcpy(&acc, t[C][m] + 4 * n, 4);
                for (int p = 0; p < 16; ++p)
                    acc += bf16_at(A, m, 2 * p) * bf16_at(B, p, 2 * n) +
                           bf16_at(A, m, 2 * p + 1) * bf16_at(B, p, 2 * n + 1);
                std::memcpy(t[C][m] + 4 * n, &acc, 4);
            }
    }
};

}  // namespace

// Everything from here on may use the tile instructions (the runtime check decides whether they
// run); the emulated instantiation simply never issues one.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")
#endif

namespace {

struct HardwareTiles {
    struct alignas(64) Config {
        uint8_t palette, start_row, reserved[14];
        uint16_t bytes_per_row[16];
        uint8_t rows[16];
    };
    void begin() {
        Config cfg{};
        cfg.palette = 1;
        for (int i = 0; i < 8; ++i) {
            cfg.bytes_per_row[i] = 64;
            cfg.rows[i] = 16;
        }
        _tile_loadconfig(&cfg);
    }
    void end() { _tile_release(); }
    // The intrinsics paste their tile numbers into the instruction text: literals only.
    template <int I>
    void zero() {
        static_assert(I >= 0 && I < 4);
        if constexpr (I == 0) _tile_zero(0);
        if constexpr (I == 1) _tile_zero(1);
        if constexpr (I == 2) _tile_zero(2);
        if constexpr (I == 3) _tile_zero(3);
    }
    template <int I>
    void load(const void* p, int64_t stride) {
        static_assert(I >= 4 && I < 8);
        if constexpr (I == 4) _tile_loadd(4, p, stride);
        if constexpr (I == 5) _tile_loadd(5, p, stride);
        if constexpr (I == 6) _tile_loadd(6, p, stride);
        if constexpr (I == 7) _tile_loadd(7, p, stride);
    }
    template <int I>
    void store(void* p, int64_t stride) {
        static_assert(I >= 0 && I < 4);
        if constexpr (I == 0) _tile_stored(0, p, stride);
        if constexpr (I == 1) _tile_stored(1, p, stride);
        if constexpr (I == 2) _tile_stored(2, p, stride);
        if constexpr (I == 3) _tile_stored(3, p, stride);
    }
    template <int C, int A, int B>
    void dp() {
        static_assert(C == 2 * (A - 4) + (B - 6) && A >= 4 && A < 6 && B >= 6 && B < 8);
        if constexpr (C == 0) _tile_dpbf16ps(0, 4, 6);
        if constexpr (C == 1) _tile_dpbf16ps(1, 4, 7);
        if constexpr (C == 2) _tile_dpbf16ps(2, 5, 6);
        if constexpr (C == 3) _tile_dpbf16ps(3, 5, 7);
    }
};

// Items are (token chunk, panel of 32 output columns), chunk-major, so a thread's consecutive
// items reuse the chunk's packed activations from its L2. The last panel is moved back to end at
// `outs` (overlapping the one before), so no tile reads past w; a k tail shorter than a step
// comes from a zero-padded copy.
template <class Tiles>
void multiply(float* out, const uint32_t* xp, const uint16_t* w, int64_t rows, int64_t in,
              int64_t outs, int64_t steps) {
    const int64_t panels = (outs + kPanel - 1) / kPanel;
    const int64_t blocks = (rows + kBlock - 1) / kBlock;
    // Enough chunks for ~4 items a thread, each chunk's packed activations at most ~1 MB.
    const int64_t items_wanted = 4 * num_threads();
    const int64_t chunks_wanted =
        std::clamp<int64_t>((items_wanted + panels - 1) / panels, 1, blocks);
    const int64_t by_threads = (blocks + chunks_wanted - 1) / chunks_wanted;
    const int64_t by_cache = std::max<int64_t>(1, kChunkBytes / (kBlock * in * 2));
    const int64_t per_chunk = std::min(by_threads, by_cache);
    const int64_t chunks = (blocks + per_chunk - 1) / per_chunk;
    const int64_t full_steps = in / kStep;
    const int64_t tile_stride = steps * kTileWords;  // words between a block's two token tiles
    parallel_for(chunks * panels, 1, [&](int64_t item0, int64_t item1) {
        Tiles tiles;
        alignas(64) float c[4][kTileWords];
        alignas(64) uint16_t tail[kPanel * kStep];
        tiles.begin();
        for (int64_t item = item0; item < item1; ++item) {
            const int64_t chunk = item / panels, panel = item % panels;
            const int64_t o0 = std::min(panel * kPanel, outs - kPanel);
            const int64_t skip = panel * kPanel - o0;
            if (full_steps < steps) {
                const int64_t k0 = full_steps * kStep;
                std::memset(tail, 0, sizeof tail);
                for (int64_t o = 0; o < kPanel; ++o)
                    std::memcpy(tail + o * kStep, w + (o0 + o) * in + k0, (in - k0) * 2);
            }
            const int64_t b_end = std::min(blocks, (chunk + 1) * per_chunk);
            for (int64_t b = chunk * per_chunk; b < b_end; ++b) {
                tiles.template zero<0>();
                tiles.template zero<1>();
                tiles.template zero<2>();
                tiles.template zero<3>();
                const uint32_t* xb = xp + 2 * b * tile_stride;
                for (int64_t s = 0; s < steps; ++s) {
                    const bool full = s < full_steps;
                    const uint16_t* a = full ? w + o0 * in + s * kStep : tail;
                    const int64_t lda = full ? in : kStep;  // in bf16 elements
                    tiles.template load<4>(a, lda * 2);
                    tiles.template load<5>(a + 16 * lda, lda * 2);
                    tiles.template load<6>(xb + s * kTileWords, 64);
                    tiles.template load<7>(xb + tile_stride + s * kTileWords, 64);
                    tiles.template dp<0, 4, 6>();
                    tiles.template dp<1, 4, 7>();
                    tiles.template dp<2, 5, 6>();
                    tiles.template dp<3, 5, 7>();
                }
                tiles.template store<0>(c[0], 64);
                tiles.template store<1>(c[1], 64);
                tiles.template store<2>(c[2], 64);
                tiles.template store<3>(c[3], 64);
                write_back(out, c, b * kBlock, rows, o0, skip, outs);
            }
        }
        tiles.end();
    });
}

template <class Tiles>
void gemm(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in, int64_t outs) {
    const int64_t steps = (in + kStep - 1) / kStep;
    const int64_t token_tiles = 2 * ((rows + kBlock - 1) / kBlock);
    // Every word is written by the packing (zeros past the edges): no initialization needed.
    uint32_t* xp = thread_scratch<struct AmxActivations, uint32_t>(
        static_cast<size_t>(token_tiles * steps * kTileWords));
    pack_activations(xp, x, rows, in, token_tiles, steps);
    multiply<Tiles>(out, xp, w, rows, in, outs, steps);
}

}  // namespace

void gemm_bf16_amx(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
                   int64_t outs) {
    gemm<HardwareTiles>(out, x, w, rows, in, outs);
}

void gemm_bf16_amx_emulated(float* out, const float* x, const uint16_t* w, int64_t rows, int64_t in,
                            int64_t outs) {
    gemm<EmulatedTiles>(out, x, w, rows, in, outs);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

bool amx_usable() {
    static const bool usable = [] {
        if (std::getenv("FERRIS_CPU_NO_AMX")) return false;
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16"))
            return false;
        // Linux hands out the tile registers' state only on request (ARCH_REQ_XCOMP_PERM for
        // XFEATURE_XTILEDATA, since 5.16); a process that skips this dies on its first tile load.
        constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
    }();
    return usable;
}

#else

bool amx_usable() { return false; }
void gemm_bf16_amx(float*, const float*, const uint16_t*, int64_t, int64_t, int64_t) {}
void gemm_bf16_amx_emulated(float*, const float*, const uint16_t*, int64_t, int64_t, int64_t) {}

#endif

}  // namespace ferris::cpu
