// linear_gelu on the CUDA backend (the encoders' FFN up-projection): against the CPU and against
// the unfused product + GELU, at shapes that take the sm_90a fused kernel (gemm_sm90a.h) and
// shapes that fall back; and, through an identity weight, the GELU of every finite 16-bit value
// against the exactly rounded GELU. Label `cuda`: skips itself without a CUDA device.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cuda/gemm_sm90a.h"
#include "cuda_harness.h"
#include "ops/ops.h"

namespace ferris::testing {
namespace {

using CudaOps = CudaTest;

// Whether this device takes the fused kernel for an (m, n, k) product of these tensors.
bool fused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
    return cuda::gemm_sm90a_fits(x.dtype(), x.numel() / x.size(-1), w.size(0), x.size(-1),
                                 out.raw(), x.raw(), w.raw(), b.defined() ? b.raw() : nullptr);
}

TEST_F(CudaOps, LinearGeluMatchesCpuAndTheUnfusedOps) {
    struct Case {
        int64_t rows, in, outs;
        int bias;  // 0 none, 1 in the activations' dtype, 2 f32 (converted first)
    };
    // 77 / 300 / 1,000 rows: partial row tiles; 4,100 x 1,536: more tiles than multiprocessors;
    // 8,200 x 512 from K = 64: tiles of one K step, fewer than the ring's stages; K = 192: as many
    // steps as stages; 100 outputs: not a multiple of 256, so the unfused path.
    const Case cases[] = {{77, 384, 1536, 1},   {300, 64, 256, 0},  {1000, 768, 3072, 2},
                          {4100, 384, 1536, 1}, {8200, 64, 512, 1}, {3000, 192, 768, 0},
                          {37, 64, 100, 1}};
    for (DType dt : {DType::F16, DType::BF16}) {
        const double tol = dt == DType::BF16 ? 1e-2 : 2e-3;
        Rng rng(dt == DType::BF16 ? 21 : 22);
        for (const Case& c : cases) {
            const Tensor x = random_tensor({c.rows, c.in}, dt, rng, -2, 2);
            const Tensor w = random_tensor({c.outs, c.in}, dt, rng, -0.15f, 0.15f);
            Tensor b;
            if (c.bias) b = random_tensor({c.outs}, c.bias == 1 ? dt : DType::F32, rng, -1, 1);
            const Tensor dx = up(x), dw = up(w), db = b.defined() ? up(b) : Tensor();
            const Tensor got = ops::linear_gelu(dx, dw, db);
            const Tensor unfused = ops::gelu(ops::linear(dx, dw, db));
            const Tensor want = ops::linear_gelu(x, w, b);
            const std::string what = std::string(dtype_name(dt)) + " " + std::to_string(c.rows) +
                                     " x " + std::to_string(c.in) + " -> " +
                                     std::to_string(c.outs) +
                                     (fused(dx, dw, db, got) ? " fused" : "");
            EXPECT_EQ(got.dtype(), dt) << what;
            EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), tol) << what;
            EXPECT_LT(rel(down(got).to_floats(), down(unfused).to_floats()), tol) << what;
        }
    }
}

// Exactly rounded GELU of x in dt, as a monotonic integer (-0 and +0 both 0), and its 16 bits.
int64_t ordered(uint16_t bits) { return bits & 0x8000 ? -int64_t(bits & 0x7FFF) : bits; }
uint16_t round_bits(double v, DType dt) {
    return dt == DType::F16 ? f32_to_f16(float(v)) : f32_to_bf16(float(v));
}

TEST_F(CudaOps, LinearGeluOfAnIdentityIsTheGeluOfEveryValue) {
    for (DType dt : {DType::F16, DType::BF16}) {
        // Every 16-bit pattern once, as a 256 x 256 matrix (inf and NaN as 0: they would spread
        // through the product), times the identity: the product is x itself, exactly.
        std::vector<float> values(65536), eye(65536, 0.0f);
        for (uint32_t i = 0; i < 65536; ++i) {
            const float v = dt == DType::F16 ? f16_to_f32(uint16_t(i)) : bf16_to_f32(uint16_t(i));
            values[i] = std::isfinite(v) ? v : 0.0f;
        }
        for (int i = 0; i < 256; ++i) eye[i * 257] = 1.0f;
        const Tensor x = up(Tensor::from_floats({256, 256}, values, dt));
        const Tensor w = up(Tensor::from_floats({256, 256}, eye, dt));
        const Tensor got = ops::linear_gelu(x, w);
        const bool is_fused = fused(x, w, Tensor(), got);
        const Tensor host = down(got);
        const uint16_t* out = static_cast<const uint16_t*>(host.raw());
        const auto widen = [dt](uint16_t h) {
            return double(dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h));
        };
        // differ: not the exactly rounded value; worst: the largest distance in ulps; beyond:
        // off by more than 2 ulps and more than 4e-7 (PyTorch's formula computes 1 + erf in f32,
        // which cancels to steps of 6e-8 below zero: bf16 tails far smaller than that are lost).
        int64_t differ = 0, worst = 0, beyond = 0;
        for (size_t i = 0; i < values.size(); ++i) {
            const double v = values[i];
            const double exact = 0.5 * v * std::erfc(-v * 0.70710678118654752440);
            // Below 1e-30 (bf16's deep tail) only the magnitude matters: ex2 flushes there.
            if (std::abs(exact) < 1e-30) {
                EXPECT_LT(std::abs(widen(out[i])), 1e-29) << dtype_name(dt) << " x = " << v;
                continue;
            }
            const int64_t d = std::abs(ordered(out[i]) - ordered(round_bits(exact, dt)));
            differ += d != 0;
            worst = std::max(worst, d);
            beyond += d > 2 && std::abs(widen(out[i]) - exact) > 4e-7;
        }
        std::printf(
            "[ linear_gelu ] %s %s: %lld of 65,536 differ from the exact GELU, max %lld ulp\n",
            dtype_name(dt), is_fused ? "fused (sm_90a)" : "unfused", static_cast<long long>(differ),
            static_cast<long long>(worst));
        if (is_fused) {
            // gelu_fast: within an ulp; 11 f16 values off (bf16: ~35, mostly subnormals).
            EXPECT_LE(worst, 1) << dtype_name(dt);
            EXPECT_LE(differ, dt == DType::F16 ? 20 : 60) << dtype_name(dt);
        } else {
            // The GELU pass is PyTorch's f32 formula: a few hundred values off.
            EXPECT_EQ(beyond, 0) << dtype_name(dt);
            EXPECT_LE(differ, 500) << dtype_name(dt);
        }
    }
}

}  // namespace
}  // namespace ferris::testing
