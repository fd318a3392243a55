// One warp's part of the tensor-core attention kernels (attention_tc.cu, attention_packed.cu):
// 16 query rows against 64-key tiles of K and V staged in shared memory (row pitch D + 8
// elements). S = Q K^T and O += P V with mma.sync m16n8k16 (f32 accumulators), online softmax in
// base 2 in registers. Each kernel scales and masks the scores itself, between scores() and
// accumulate(). Device code only.
#pragma once

#include "backends/cuda/device_util.cuh"
#include "backends/cuda/mma.cuh"

namespace ferris::cuda {

constexpr int kTcWarps = 4;
constexpr int kTcThreads = kTcWarps * 32;
constexpr int kTcRows = kTcWarps * 16;  // query rows per block
constexpr int kTcKeys = 64;             // keys per tile

// A lane holds, of its warp's 16 rows, row `quad_row` (scores [n][0..1], outputs [n][0..1]) and
// row `quad_row + 8` ([n][2..3]), at columns n * 8 + quad_col + {0, 1}.
template <typename T, int D>
struct TcWarpRows {
    static constexpr int kStride = D + 8;  // 16 bytes of padding a row: no bank conflicts
    static constexpr int kSteps = D / 16;  // k-steps of Q K^T, and pairs of 8-wide output tiles

    uint32_t qf[kSteps][4];
    float o[2 * kSteps][4];
    float m0, m1, l0, l1;

    // qs: the warp's 16 staged query rows.
    __device__ __forceinline__ void start(const T* qs, int lane) {
#pragma unroll
        for (int k = 0; k < kSteps; ++k)
            ldmatrix_x4<false>(qf[k], qs + (lane & 15) * kStride + k * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int n = 0; n < 2 * kSteps; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
        m0 = m1 = -INFINITY;
        l0 = l1 = 0.0f;
    }

    // sc = Q K^T (unscaled) for the 64 staged keys ks: [n] is keys n * 8 .. n * 8 + 7.
    __device__ __forceinline__ void scores(float (&sc)[8][4], const T* ks, int lane) const {
#pragma unroll
        for (int n = 0; n < 8; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
        for (int k = 0; k < kSteps; ++k)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                uint32_t kb[4];
                ldmatrix_x4<false>(kb, ks + (j * 16 + (lane & 7) + (lane >> 4) * 8) * kStride +
                                           k * 16 + ((lane >> 3) & 1) * 8);
                mma16816<T>(sc[2 * j], qf[k], kb[0], kb[1]);
                mma16816<T>(sc[2 * j + 1], qf[k], kb[2], kb[3]);
            }
    }

    // The online softmax over one tile's scores, already scaled to base 2 (-inf where a row does
    // not see the key), then O += P V with the staged values vs. kEverySeen: every row has seen a
    // key by this tile (so its running max is finite), and the exponentials need no guard against
    // -inf - -inf.
    template <bool kEverySeen = false>
    __device__ __forceinline__ void accumulate(float (&sc)[8][4], const T* vs, int lane) {
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int n = 0; n < 8; ++n) {
            mx0 = fmaxf(mx0, fmaxf(sc[n][0], sc[n][1]));
            mx1 = fmaxf(mx1, fmaxf(sc[n][2], sc[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(kFullMask, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(kFullMask, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(kFullMask, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(kFullMask, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        const auto ex = [](float x, float m) {  // 2^(x - m), 0 for an unseen key
            if constexpr (kEverySeen) {
                return fast_exp2(x - m);
            } else {
                return x == -INFINITY ? 0.0f : exp2f(x - m);
            }
        };
        const float c0 = ex(m0, n0), c1 = ex(m1, n1);
        m0 = n0;
        m1 = n1;
        float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                sc[n][e] = ex(sc[n][e], n0);
                sc[n][2 + e] = ex(sc[n][2 + e], n1);
                sum0 += sc[n][e];
                sum1 += sc[n][2 + e];
            }
        l0 = l0 * c0 + sum0;  // a quarter of the row's sum: the quad is reduced in store()
        l1 = l1 * c1 + sum1;
#pragma unroll
        for (int n = 0; n < 2 * kSteps; ++n) {
            o[n][0] *= c0;
            o[n][1] *= c0;
            o[n][2] *= c1;
            o[n][3] *= c1;
        }
        // P (16 x 64) as the A operand: the accumulator layout of two key tiles is the A
        // fragment of one 16-key step.
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const uint32_t pa[4] = {pack2<T>(sc[2 * j][0], sc[2 * j][1]),
                                    pack2<T>(sc[2 * j][2], sc[2 * j][3]),
                                    pack2<T>(sc[2 * j + 1][0], sc[2 * j + 1][1]),
                                    pack2<T>(sc[2 * j + 1][2], sc[2 * j + 1][3])};
#pragma unroll
            for (int dn = 0; dn < kSteps; ++dn) {
                uint32_t vb[4];
                ldmatrix_x4<true>(
                    vb, vs + (j * 16 + (lane & 15)) * kStride + dn * 16 + (lane >> 4) * 8);
                mma16816<T>(o[2 * dn], pa, vb[0], vb[1]);
                mma16816<T>(o[2 * dn + 1], pa, vb[2], vb[3]);
            }
        }
    }

    // The normalized outputs of the two rows: out0 / out1 point at their first column (null:
    // not stored). A row that saw no key gets zeros.
    template <typename QO>
    __device__ __forceinline__ void store(QO* out0, QO* out1, int lane) {
        l0 += __shfl_xor_sync(kFullMask, l0, 1);
        l0 += __shfl_xor_sync(kFullMask, l0, 2);
        l1 += __shfl_xor_sync(kFullMask, l1, 1);
        l1 += __shfl_xor_sync(kFullMask, l1, 2);
        const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
        const int quad_col = (lane & 3) * 2;
#pragma unroll
        for (int n = 0; n < 2 * kSteps; ++n) {
            const int c = n * 8 + quad_col;
            if (out0) store2(out0 + c, o[n][0] * inv0, o[n][1] * inv0);
            if (out1) store2(out1 + c, o[n][2] * inv1, o[n][3] * inv1);
        }
    }
};

}  // namespace ferris::cuda
