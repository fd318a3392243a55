// CUDA attention against the CPU backend (the reference): causal prefill with offsets, decode up to
// 2100 keys, padding, packed segments, relative bias, the tensor-core kernels in bf16/f16, and the
// encoders' kernel tiled by sequence. Label `cuda`: every test skips itself when no CUDA device is
// present.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_harness.h"
#include "ops/ops.h"

namespace ferris::testing {
namespace {

using CudaOps = CudaTest;

// ---- attention ----

struct AttnCase {
    int64_t B, T, NH, NKV, HS, S, offset;
};

// Runs the same attention on both backends; k/v are strided views of a (B, S + 9, NKV, HS) cache.
double attention_error(const AttnCase& c, DType kd, AttentionMask mask, uint64_t seed,
                       bool* guards_ok) {
    Rng rng(seed);
    Tensor kc = random_tensor({c.B, c.S + 9, c.NKV, c.HS}, kd, rng, -2, 2);
    Tensor vc = random_tensor({c.B, c.S + 9, c.NKV, c.HS}, kd, rng, -2, 2);
    Tensor q = random_tensor({c.B, c.T, c.NH, c.HS}, DType::F32, rng, -2, 2);
    if (mask.precision != DType::F32) {  // q as the tensor-core path sees it: rounded
        const Tensor rounded = random_tensor({c.B, c.T, c.NH, c.HS}, mask.precision, rng, -2, 2);
        cpu().copy(q, rounded);
    }
    const float scale = 1.0f / std::sqrt(float(c.HS));
    Tensor want = Tensor::empty({c.B, c.T, c.NH, c.HS}, DType::F32);
    cpu().attention(want, q, kc.narrow(1, 0, c.S), vc.narrow(1, 0, c.S), mask, scale);
    AttentionMask dmask = mask;
    if (mask.key_lengths.defined()) dmask.key_lengths = up(mask.key_lengths);
    if (mask.segments.defined()) dmask.segments = up(mask.segments);
    if (mask.relative_bias.defined()) dmask.relative_bias = up(mask.relative_bias);
    Tensor dk = up(kc), dv = up(vc);
    DeviceGuarded got({c.B, c.T, c.NH, c.HS});
    gpu().attention(got.view, up(q), dk.narrow(1, 0, c.S), dv.narrow(1, 0, c.S), dmask, scale);
    *guards_ok = got.guards_intact();
    return rel(got.values(), want.to_floats());
}

TEST_F(CudaOps, AttentionCausalPrefillWithOffset) {
    for (DType kd : {DType::F32, DType::F16, DType::BF16})
        for (AttnCase c : {AttnCase{1, 16, 4, 2, 32, 16, 0}, AttnCase{2, 33, 4, 1, 16, 33, 0},
                           AttnCase{2, 40, 6, 3, 64, 71, 31}, AttnCase{1, 130, 4, 2, 64, 137, 7},
                           AttnCase{2, 17, 2, 2, 33, 17, 0}, AttnCase{2, 300, 4, 2, 32, 303, 3},
                           AttnCase{1, 257, 14, 2, 64, 257, 0}, AttnCase{1, 64, 8, 2, 128, 100, 36},
                           AttnCase{1, 40, 2, 1, 96, 40, 0}, AttnCase{1, 33, 2, 2, 256, 40, 7}}) {
            AttentionMask mask;
            mask.q_offset = c.offset;
            bool guards = false;
            const double err = attention_error(c, kd, mask, c.T * 7 + c.HS, &guards);
            EXPECT_TRUE(guards);
            EXPECT_LT(err, 1e-5) << dtype_name(kd) << " T=" << c.T << " HS=" << c.HS
                                 << " off=" << c.offset;
        }
}

TEST_F(CudaOps, AttentionDecodeUpTo2100Keys) {
    for (DType kd : {DType::BF16, DType::F32})
        for (int64_t s : {1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 2048, 2100})
            for (int64_t hs : {64, 128}) {
                const AttnCase c{2, 1, 14, 2, hs, s, s - 1};
                AttentionMask mask;
                mask.q_offset = c.offset;
                bool guards = false;
                const double err = attention_error(c, kd, mask, s * 3 + hs, &guards);
                EXPECT_TRUE(guards);
                EXPECT_LT(err, 1e-5) << dtype_name(kd) << " S=" << s << " HS=" << hs;
            }
    // A few queries at once (speculative/chunked decode), odd head sizes, and a GQA group of 10
    // q heads (more than one decode block serves: kMaxGroup is 8).
    for (AttnCase c : {AttnCase{1, 4, 4, 2, 64, 900, 896}, AttnCase{3, 15, 4, 4, 16, 15, 0},
                       AttnCase{1, 1, 2, 1, 33, 500, 499}, AttnCase{1, 2, 2, 2, 256, 70, 68},
                       AttnCase{2, 1, 20, 2, 64, 700, 699}}) {
        AttentionMask mask;
        mask.q_offset = c.offset;
        bool guards = false;
        const double err = attention_error(c, DType::F16, mask, c.S, &guards);
        EXPECT_TRUE(guards);
        EXPECT_LT(err, 1e-5) << "T=" << c.T << " S=" << c.S << " HS=" << c.HS;
    }
}

TEST_F(CudaOps, AttentionBidirectionalPaddedWithRelativeBias) {
    for (bool with_bias : {false, true})
        for (int64_t t : {1, 7, 15, 16, 33, 130}) {
            const AttnCase c{3, t, 3, 3, 32, t, 0};
            AttentionMask mask;
            mask.causal = false;
            mask.key_lengths = Tensor::from_ints({3}, {int32_t(t), int32_t((t + 1) / 2), 0});
            Rng rng(t + 101);
            if (with_bias)
                mask.relative_bias = random_tensor({3, 2 * t - 1}, DType::F32, rng, -3, 3);
            bool guards = false;
            const double err = attention_error(c, DType::F32, mask, t * 13 + with_bias, &guards);
            EXPECT_TRUE(guards);
            EXPECT_LT(err, 1e-5) << "T=" << t << " bias=" << with_bias;
        }
}

TEST_F(CudaOps, AttentionPackedSegments) {
    const std::vector<int32_t> seg = {0, 5, 40, 41, 90};
    for (bool causal : {false, true})
        for (bool with_bias : {false, true}) {
            const AttnCase c{1, 90, 4, 2, 64, 90, 0};
            AttentionMask mask;
            mask.causal = causal;
            mask.segments = Tensor::from_ints({static_cast<int64_t>(seg.size())}, seg);
            Rng rng(7 + causal);
            // W = 60 covers the longest sequence (49): bias (NH, 2W - 1).
            if (with_bias) mask.relative_bias = random_tensor({4, 119}, DType::F32, rng, -3, 3);
            bool guards = false;
            const double err = attention_error(c, DType::BF16, mask, 99 + causal, &guards);
            EXPECT_TRUE(guards);
            EXPECT_LT(err, 1e-5) << "causal=" << causal << " bias=" << with_bias;
        }
}

// The tensor-core prefill kernel (precision BF16/F16): q and k/v in (or rounded to) the compute
// dtype, so what differs from the f32 CPU reference is the probabilities rounded for P V:
// ~2^-9 relative in bf16, ~2^-12 in f16.
TEST_F(CudaOps, AttentionTensorCoresMatchF32) {
    const std::vector<int32_t> seg = {0, 5, 70, 71, 140, 200, 300};
    for (DType prec : {DType::BF16, DType::F16})
        for (DType kd : {DType::F32, prec})
            for (int64_t hs : {32, 64, 128}) {
                const double tol = prec == DType::BF16 ? 8e-3 : 1.5e-3;
                auto check = [&](const AttnCase& c, AttentionMask mask, const char* what) {
                    mask.precision = prec;
                    bool guards = false;
                    const double err = attention_error(c, kd, mask, c.T + hs * 5, &guards);
                    EXPECT_TRUE(guards) << what;
                    EXPECT_LT(err, tol) << what << " " << dtype_name(prec) << " kv "
                                        << dtype_name(kd) << " HS=" << hs << " T=" << c.T;
                };
                for (AttnCase c :
                     {AttnCase{1, 16, 4, 2, hs, 16, 0}, AttnCase{2, 130, 6, 2, hs, 150, 20},
                      AttnCase{1, 257, 14, 2, hs, 257, 0}}) {
                    AttentionMask mask;
                    mask.q_offset = c.offset;
                    check(c, mask, "causal");
                }
                {
                    const AttnCase c{3, 100, 3, 3, hs, 100, 0};
                    AttentionMask mask;
                    mask.causal = false;
                    mask.key_lengths = Tensor::from_ints({3}, {100, 37, 0});
                    Rng rng(hs);
                    mask.relative_bias = random_tensor({3, 199}, DType::F32, rng, -3, 3);
                    check(c, mask, "padded+bias");
                }
                for (bool causal : {false, true}) {
                    const AttnCase c{1, 300, 4, 2, hs, 300, 0};
                    AttentionMask mask;
                    mask.causal = causal;
                    mask.segments = Tensor::from_ints({static_cast<int64_t>(seg.size())}, seg);
                    Rng rng(hs + causal);
                    mask.relative_bias = random_tensor({4, 199}, DType::F32, rng, -3, 3);
                    check(c, mask, causal ? "segments causal" : "segments");
                }
            }
}

// The encoders' attention with the longest sequence known (AttentionMask::longest_segment): the
// kernel tiled by sequence. Sequences of 1 to 300 rows, across the 64-row and 64-key tile edges;
// q, k and v read in place from one (T, 3, NH, HS) product as the encoders lay them out, or
// separate with GQA; with and without the relative bias. Against the CPU, and against the same
// call without longest_segment (the general tensor-core kernel).
TEST_F(CudaOps, AttentionPackedBySequenceMatchesCpu) {
    const std::vector<std::vector<int32_t>> layouts = {
        {0, 300, 365, 429, 493, 494, 557, 686, 815, 816, 830},  // 300 65 64 64 1 63 129 129 1 14
        {0, 1},
        {0, 64, 128},
    };
    for (DType dt : {DType::BF16, DType::F16})
        for (int64_t hs : {32, 64, 128})
            for (const auto& seg : layouts)
                for (bool with_bias : {false, true})
                    for (bool gqa : {false, true}) {
                        const double tol = dt == DType::BF16 ? 1e-2 : 2e-3;
                        const int64_t T = seg.back(), NH = 4, NKV = gqa ? 2 : 4;
                        int64_t longest = 0;
                        for (size_t i = 1; i < seg.size(); ++i)
                            longest = std::max<int64_t>(longest, seg[i] - seg[i - 1]);
                        Rng rng(static_cast<uint64_t>(T * 31 + hs + with_bias * 7 + gqa));
                        Tensor q, k, v, dq, dk, dv;
                        if (gqa) {
                            q = random_tensor({1, T, NH, hs}, dt, rng, -2, 2);
                            k = random_tensor({1, T, NKV, hs}, dt, rng, -2, 2);
                            v = random_tensor({1, T, NKV, hs}, dt, rng, -2, 2);
                            dq = up(q), dk = up(k), dv = up(v);
                        } else {
                            const Tensor qkv = random_tensor({1, T, 3, NH, hs}, dt, rng, -2, 2);
                            const Tensor dqkv = up(qkv);
                            q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
                            dq = dqkv.select(2, 0), dk = dqkv.select(2, 1), dv = dqkv.select(2, 2);
                        }
                        AttentionMask mask;
                        mask.causal = false;
                        mask.precision = dt;
                        mask.segments = Tensor::from_ints({static_cast<int64_t>(seg.size())}, seg);
                        if (with_bias)
                            mask.relative_bias =
                                random_tensor({NH, 2 * longest + 1}, DType::F32, rng, -3, 3);
                        AttentionMask dmask = mask;
                        dmask.segments = up(mask.segments);
                        if (with_bias) dmask.relative_bias = up(mask.relative_bias);
                        const float scale = 1.0f / std::sqrt(float(hs));
                        const std::vector<float> want =
                            ops::attention(q, k, v, mask, scale).to_floats();
                        const std::vector<float> general =
                            down(ops::attention(dq, dk, dv, dmask, scale)).to_floats();
                        dmask.longest_segment = longest;
                        const std::vector<float> got =
                            down(ops::attention(dq, dk, dv, dmask, scale)).to_floats();
                        const std::string what =
                            std::string(dtype_name(dt)) + " HS=" + std::to_string(hs) +
                            " T=" + std::to_string(T) + " bias=" + std::to_string(with_bias) +
                            " gqa=" + std::to_string(gqa);
                        EXPECT_LT(rel(got, want), tol) << what;
                        EXPECT_LT(rel(got, general), tol) << what;
                        // With the host's copy of the offsets, only the live blocks run (a tile
                        // list): the same blocks compute, so the same values.
                        dmask.host_segments = mask.segments;
                        EXPECT_EQ(down(ops::attention(dq, dk, dv, dmask, scale)).to_floats(), got)
                            << what << " with host_segments";
                    }
}

// A batch the size of real encoder inputs: 120 sequences of 1 to 200 rows (about 2,400 blocks of
// 64 query rows and one head, more than a GPU holds at once, one to four key tiles each), MPNet's
// twelve heads of 64 and its relative bias; with the tile list and without it (where the blocks
// past a sequence's end return at once).
TEST_F(CudaOps, AttentionPackedManySequencesMatchCpu) {
    const std::vector<int32_t> lengths = {200, 129, 100, 65, 64, 63, 33, 17, 7, 1};
    std::vector<int32_t> seg = {0};
    for (int i = 0; i < 120; ++i) seg.push_back(seg.back() + lengths[i % lengths.size()]);
    const int64_t T = seg.back(), NH = 12, hs = 64, longest = 200;
    for (DType dt : {DType::BF16, DType::F16}) {
        Rng rng(static_cast<uint64_t>(T + (dt == DType::F16)));
        const Tensor qkv = random_tensor({1, T, 3, NH, hs}, dt, rng, -2, 2);
        const Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
        const Tensor dqkv = up(qkv);
        const Tensor dq = dqkv.select(2, 0), dk = dqkv.select(2, 1), dv = dqkv.select(2, 2);
        AttentionMask mask;
        mask.causal = false;
        mask.precision = dt;
        mask.segments = Tensor::from_ints({static_cast<int64_t>(seg.size())}, seg);
        mask.relative_bias = random_tensor({NH, 2 * longest - 1}, DType::F32, rng, -3, 3);
        AttentionMask dmask = mask;
        dmask.segments = up(mask.segments);
        dmask.relative_bias = up(mask.relative_bias);
        dmask.longest_segment = longest;
        const float scale = 0.125f;
        const std::vector<float> want = ops::attention(q, k, v, mask, scale).to_floats();
        const std::vector<float> got = down(ops::attention(dq, dk, dv, dmask, scale)).to_floats();
        EXPECT_LT(rel(got, want), dt == DType::BF16 ? 1e-2 : 2e-3) << dtype_name(dt);
        dmask.host_segments = mask.segments;
        EXPECT_EQ(down(ops::attention(dq, dk, dv, dmask, scale)).to_floats(), got)
            << dtype_name(dt) << " with host_segments";
    }
}

// A sequence's last key tile spans past its end into the next sequence's rows: those keys are
// masked, and an inf there (here in every K and V row of the second sequence) must not reach the
// first sequence's outputs through P = 0 (a kernel that loads whole tiles has to zero V's rows).
TEST_F(CudaOps, AttentionPackedNextSequenceInfDoesNotLeak) {
    const std::vector<int32_t> seg = {0, 10, 80};
    const int64_t T = 80, NH = 2, hs = 64, first = 10;
    for (DType dt : {DType::BF16, DType::F16}) {
        Rng rng(static_cast<uint64_t>(41 + (dt == DType::F16)));
        const Tensor q = random_tensor({1, T, NH, hs}, dt, rng, -2, 2);
        std::vector<float> kv = random_tensor({1, T, NH, hs}, DType::F32, rng, -2, 2).to_floats();
        for (size_t i = first * NH * hs; i < kv.size(); ++i) kv[i] = INFINITY;
        const Tensor k = Tensor::from_floats({1, T, NH, hs}, kv, dt);
        const Tensor v = Tensor::from_floats({1, T, NH, hs}, kv, dt);
        AttentionMask mask;
        mask.causal = false;
        mask.precision = dt;
        mask.segments = Tensor::from_ints({3}, seg);
        AttentionMask dmask = mask;
        dmask.segments = up(mask.segments);
        dmask.longest_segment = T - first;
        dmask.host_segments = mask.segments;
        const std::vector<float> want = ops::attention(q, k, v, mask, 0.125f).to_floats();
        const std::vector<float> got =
            down(ops::attention(up(q), up(k), up(v), dmask, 0.125f)).to_floats();
        const std::vector<float> want_first(want.begin(), want.begin() + first * NH * hs);
        const std::vector<float> got_first(got.begin(), got.begin() + first * NH * hs);
        EXPECT_LT(rel(got_first, want_first), dt == DType::BF16 ? 1e-2 : 2e-3) << dtype_name(dt);
    }
}

}  // namespace
}  // namespace ferris::testing
