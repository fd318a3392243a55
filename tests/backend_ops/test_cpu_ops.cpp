// CPU backend ops against double-precision references on edge sizes, every weight dtype,
// strided inputs and batches; outputs must be fully written and guard bytes intact.
#include <algorithm>
#include <cstdlib>

#include "backends/cpu/blas.h"
#include "backends/cpu/gemm_bf16.h"
#include "backends/cpu/gemm_blas.h"
#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/simd.h"
#include "ferris/threads.h"
#include "harness.h"
#include "ops/ops.h"

namespace ferris::testing {
namespace {

std::vector<double> ref_linear(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>& b, int64_t n, int64_t in, int64_t out) {
    std::vector<double> y(static_cast<size_t>(n * out));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t o = 0; o < out; ++o) {
            double s = b.empty() ? 0.0 : b[o];
            for (int64_t i = 0; i < in; ++i)
                s += static_cast<double>(x[r * in + i]) * w[o * in + i];
            y[r * out + o] = s;
        }
    return y;
}

struct LinearCase {
    int64_t rows, in, out;
    DType dtype;
};

class LinearTest : public ::testing::TestWithParam<LinearCase> {};

// cpu().linear with a bias against the double-precision reference, guards around the output.
void expect_linear_matches_reference(const LinearCase& c) {
    Rng rng(c.rows * 1000003 + c.in * 101 + c.out);
    Tensor x = random_tensor({c.rows, c.in}, DType::F32, rng);
    Tensor w = random_tensor({c.out, c.in}, c.dtype, rng);
    Tensor b = random_tensor({c.out}, c.dtype, rng);
    Guarded y({c.rows, c.out}, DType::F32);
    cpu().linear(y.view, x, w, b);
    EXPECT_TRUE(y.guards_intact());
    // With AVX512-BF16, bf16 weights multiply bf16-rounded activations (as a bf16 model does):
    // the reference rounds x the same way, so the kernel itself is still checked to 1e-5.
    std::vector<float> xv = x.to_floats();
    if (c.dtype == DType::BF16 && cpu::have_bf16_gemm())
        for (float& v : xv) v = bf16_to_f32(f32_to_bf16(v));
    const double err = relative_error(
        y.view.to_floats(), ref_linear(xv, w.to_floats(), b.to_floats(), c.rows, c.in, c.out));
    EXPECT_LT(err, 1e-5) << c.rows << "x" << c.in << " -> " << c.out << " " << dtype_name(c.dtype);
}

TEST_P(LinearTest, MatchesReference) { expect_linear_matches_reference(GetParam()); }

std::vector<LinearCase> linear_cases() {
    std::vector<LinearCase> cases;
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
        for (int64_t rows : {1, 2, 3, 4, 5, 8, 9, 10, 11, 14, 33, 257})
            for (int64_t in : {1, 31, 33, 256, 257})
                cases.push_back({rows, in, rows % 2 ? 255 : 33, dt});
    // Past gemm_f32's 512 rows (f32; where OpenBLAS has AVX2 kernels): OpenBLAS by row chunks
    // (rows >= outs) and by weight blocks.
    cases.push_back({700, 33, 255, DType::F32});
    cases.push_back({520, 65, 1030, DType::F32});
    // Past 2,048 rows of bf16 activations (with AVX512-BF16): rows blocked (a partial block of 44
    // rows), weights packed in batches of 64 panels (2,057 outputs: 65 panels, the last one
    // partial), K blocks with an odd tail.
    cases.push_back({2100, 257, 2057, DType::BF16});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(Cpu, LinearTest, ::testing::ValuesIn(linear_cases()));

// The blocked bf16 product with more threads than row blocks can keep busy: each row block's
// panels are shared out among several work items.
TEST(CpuOps, Bf16BlockedProductSharesPanelsAmongThreads) {
    const int saved = num_threads();
    set_num_threads(48);
    expect_linear_matches_reference({2100, 300, 1000, DType::BF16});
    set_num_threads(saved);
}

// A product of gemm_f32's signature, out = x @ w^T, against the double-precision reference for
// each case, with a guard element past the output.
using ProductFn = void (*)(float*, const float*, const void*, DType, int64_t, int64_t, int64_t);
void expect_product_matches(ProductFn product, const std::vector<LinearCase>& cases,
                            int64_t seed_rows) {
    for (const LinearCase& c : cases) {
        Rng rng(c.rows * seed_rows + c.in + c.out);
        Tensor x = random_tensor({c.rows, c.in}, DType::F32, rng);
        Tensor w = random_tensor({c.out, c.in}, c.dtype, rng);
        std::vector<float> y(static_cast<size_t>(c.rows * c.out) + 1, -7.0f);  // + a guard
        product(y.data(), x.data<float>(), w.raw(), w.dtype(), c.rows, c.in, c.out);
        EXPECT_EQ(y.back(), -7.0f);
        y.pop_back();
        const double err =
            relative_error(y, ref_linear(x.to_floats(), w.to_floats(), {}, c.rows, c.in, c.out));
        EXPECT_LT(err, 1e-5) << c.rows << "x" << c.in << " -> " << c.out << " "
                             << dtype_name(c.dtype);
    }
}

// gemm_f32 itself at sizes the routing gives OpenBLAS on most machines (and gemm_f32 where
// OpenBLAS lacks AVX2 kernels), and with half weights (where the CPU lacks AVX512-BF16):
// remainders of every register block, several row chunks.
TEST(CpuOps, GemmF32MatchesReferencePastTheRoutingLimit) {
    expect_product_matches(cpu::gemm_f32,
                           {{700, 33, 255, DType::F32},
                            {601, 300, 7, DType::F32},
                            {9, 1, 3, DType::F32},
                            {1030, 17, 66, DType::F32},
                            {601, 40, 70, DType::BF16},
                            {13, 257, 9, DType::F16}},
                           1);
}

// gemm_blas itself (the products gemm_f32 does not take), f32 weights by row chunks of x and by
// blocks of W's output rows, half weights converted a block at a time.
TEST(CpuOps, GemmBlasMatchesReference) {
    expect_product_matches(cpu::gemm_blas,
                           {{700, 33, 255, DType::F32},
                            {65, 70, 300, DType::F32},
                            {9, 1, 3, DType::F32},
                            {130, 40, 529, DType::BF16},
                            {33, 257, 17, DType::F16}},
                           7);
}

// The OpenBLAS core Ferris names before loading it: SkylakeX for AVX-512 on Intel and AMD,
// Haswell for AVX2 + FMA on Intel; AMD without AVX-512 and CPUs without AVX2 + FMA left to
// OpenBLAS. On such an Intel or AMD CPU the core loaded then has those kernels.
TEST(CpuOps, OpenBlasCoreNamedByVectorUnits) {
    using cpu::CpuVendor;
    EXPECT_STREQ(cpu::openblas_core_for(CpuVendor::Intel, true, true), "SkylakeX");
    EXPECT_STREQ(cpu::openblas_core_for(CpuVendor::Intel, true, false), "Haswell");
    EXPECT_EQ(cpu::openblas_core_for(CpuVendor::Intel, false, false), nullptr);
    EXPECT_STREQ(cpu::openblas_core_for(CpuVendor::Amd, true, true), "SkylakeX");
    EXPECT_EQ(cpu::openblas_core_for(CpuVendor::Amd, true, false), nullptr);
    EXPECT_EQ(cpu::openblas_core_for(CpuVendor::Other, true, true), nullptr);
    if (std::getenv("OPENBLAS_CORETYPE")) return;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const bool intel = __builtin_cpu_is("intel"), amd = __builtin_cpu_is("amd");
    if ((intel || amd) && avx512) {
        EXPECT_TRUE(cpu::blas_has_avx512_kernels()) << cpu::blas_core();
        EXPECT_TRUE(cpu::blas_core_named_by_ferris());
    } else if (intel && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        EXPECT_TRUE(cpu::blas_has_avx2_kernels()) << cpu::blas_core();
        EXPECT_FALSE(cpu::blas_has_avx512_kernels()) << cpu::blas_core();
        EXPECT_TRUE(cpu::blas_core_named_by_ferris());
    }
}

TEST(CpuOps, RmsNormEdgeSizes) {
    for (int64_t c : edge_sizes()) {
        Rng rng(c);
        const int64_t n = 3;
        Tensor x = random_tensor({n, c}, DType::F32, rng, -3, 3);
        Tensor w = random_tensor({c}, DType::BF16, rng, 0.5, 1.5);
        Guarded y({n, c}, DType::F32);
        cpu().rms_norm(y.view, x, w, 1e-6f);
        EXPECT_TRUE(y.guards_intact());
        std::vector<float> xv = x.to_floats(), wv = w.to_floats();
        std::vector<double> ref(xv.size());
        for (int64_t r = 0; r < n; ++r) {
            double ss = 0;
            for (int64_t i = 0; i < c; ++i) ss += double(xv[r * c + i]) * xv[r * c + i];
            const double inv = 1.0 / std::sqrt(ss / c + 1e-6);
            for (int64_t i = 0; i < c; ++i) ref[r * c + i] = xv[r * c + i] * inv * wv[i];
        }
        EXPECT_LT(relative_error(y.view.to_floats(), ref), 1e-6) << c;
    }
}

TEST(CpuOps, LayerNormEdgeSizes) {
    for (int64_t c : edge_sizes()) {
        Rng rng(c + 3);
        const int64_t n = 3;
        // An offset mean tests the centring, not just the scaling.
        Tensor x = random_tensor({n, c}, DType::F32, rng, 2, 6);
        Tensor w = random_tensor({c}, DType::BF16, rng, 0.5, 1.5);
        Tensor b = random_tensor({c}, DType::F32, rng, -0.5, 0.5);
        Guarded y({n, c}, DType::F32);
        cpu().layer_norm(y.view, x, w, b, 1e-12f);
        EXPECT_TRUE(y.guards_intact());
        std::vector<float> xv = x.to_floats(), wv = w.to_floats(), bv = b.to_floats();
        std::vector<double> ref(xv.size());
        for (int64_t r = 0; r < n; ++r) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < c; ++i) mean += xv[r * c + i];
            mean /= c;
            for (int64_t i = 0; i < c; ++i) var += (xv[r * c + i] - mean) * (xv[r * c + i] - mean);
            const double inv = 1.0 / std::sqrt(var / c + 1e-12);
            for (int64_t i = 0; i < c; ++i)
                ref[r * c + i] = (xv[r * c + i] - mean) * inv * wv[i] + bv[i];
        }
        // c == 1: the row is its own mean, every output is the bias.
        EXPECT_LT(relative_error(y.view.to_floats(), ref), 2e-5) << c;
    }
    Tensor x = Tensor::zeros({2, 8}, DType::F32);
    EXPECT_THROW(
        ops::layer_norm(x, Tensor::zeros({8}, DType::F32), Tensor::zeros({7}, DType::F32), 1e-5f),
        Error);
}

// The vector erf behind the GELU: within 1.5e-7 of the C library's erf over a dense sweep of
// both branches and past their ends, odd, and +-1 far out.
TEST(CpuOps, VectorErfIsWithinItsBound) {
    double worst = 0.0;
    float at = 0.0f;
    for (int i = -70000; i <= 70000; i += cpu::kLanes) {
        float x[cpu::kLanes], y[cpu::kLanes];
        for (int l = 0; l < cpu::kLanes; ++l) x[l] = static_cast<float>(i + l) * 1e-4f;
        cpu::vstore(y, cpu::verf(cpu::vload(x)));
        for (int l = 0; l < cpu::kLanes; ++l) {
            const double err = std::abs(double{y[l]} - std::erf(double{x[l]}));
            if (err > worst) worst = err, at = x[l];
        }
    }
    EXPECT_LT(worst, 1.5e-7) << "at x = " << at;
    float x[cpu::kLanes], y[cpu::kLanes];
    for (int l = 0; l < cpu::kLanes; ++l) x[l] = l % 2 ? 1e30f : -50.0f;
    cpu::vstore(y, cpu::verf(cpu::vload(x)));
    for (int l = 0; l < cpu::kLanes; ++l) EXPECT_EQ(y[l], l % 2 ? 1.0f : -1.0f) << x[l];
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 0.3f, x[3] = -0.3f;
    cpu::vstore(y, cpu::verf(cpu::vload(x)));
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_EQ(y[2], -y[3]);
}

TEST(CpuOps, GeluIsExactErfForm) {
    for (int64_t c : edge_sizes()) {
        Rng rng(c + 5);
        Tensor x = random_tensor({2, c}, DType::F32, rng, -6, 6);
        Guarded y({2, c}, DType::F32);
        cpu().gelu(y.view, x);
        EXPECT_TRUE(y.guards_intact());
        std::vector<float> xv = x.to_floats();
        std::vector<double> ref(xv.size());
        for (size_t i = 0; i < xv.size(); ++i)
            ref[i] = 0.5 * xv[i] * (1.0 + std::erf(xv[i] / std::sqrt(2.0)));
        EXPECT_LT(relative_error(y.view.to_floats(), ref), 1e-6) << c;
    }
    // Not the tanh approximation: they differ by ~1e-4 near x = 1.
    Tensor one = Tensor::from_floats({1}, {1.0f});
    EXPECT_NEAR(ops::gelu(one).to_floats()[0], 0.8413447460685429, 1e-7);
    // In place (the encoders' FFN): the same values, in f32 and in a half dtype.
    for (DType dt : {DType::F32, DType::BF16}) {
        Rng rng(77);
        Tensor x = random_tensor({3, 70}, dt, rng, -6, 6);
        const std::vector<float> want = ops::gelu(x).to_floats();
        ops::gelu_(x);
        EXPECT_EQ(x.to_floats(), want) << dtype_name(dt);
    }
}

// Where work runs at once there is one lane: asking for more gets one, lane numbers wrap.
TEST(CpuOps, LanesAreOneOnTheCpu) {
    Backend& cpu = backend_for(Device::cpu());
    EXPECT_EQ(cpu.fork_lanes(4), 1);
    EXPECT_THROW(cpu.fork_lanes(0), Error);
    EXPECT_THROW(cpu.use_lane(1), Error);
    ops::Lanes lanes(Device::cpu(), 3);
    EXPECT_EQ(lanes.count(), 1);
    lanes.use(5);  // modulo one lane: lane 0
    const Tensor a = Tensor::from_floats({2}, {1.0f, 2.0f});
    EXPECT_EQ(ops::add(a, a).to_floats(), (std::vector<float>{2.0f, 4.0f}));
    lanes.join();
    lanes.join();  // a second join does nothing
}

TEST(CpuOps, AddAndSiluMul) {
    for (int64_t c : edge_sizes()) {
        Rng rng(c + 7);
        Tensor a = random_tensor({2, c}, DType::F32, rng, -8, 8);
        Tensor b = random_tensor({2, c}, DType::F32, rng, -8, 8);
        Guarded s({2, c}, DType::F32), m({2, c}, DType::F32);
        cpu().add(s.view, a, b, 0.5f);
        cpu().silu_mul(m.view, a, b);
        EXPECT_TRUE(s.guards_intact() && m.guards_intact());
        std::vector<float> av = a.to_floats(), bv = b.to_floats();
        std::vector<double> rs(av.size()), rm(av.size());
        for (size_t i = 0; i < av.size(); ++i) {
            rs[i] = av[i] + 0.5 * bv[i];
            rm[i] = av[i] / (1.0 + std::exp(-double(av[i]))) * bv[i];
        }
        EXPECT_LT(relative_error(s.view.to_floats(), rs), 1e-6);
        EXPECT_LT(relative_error(m.view.to_floats(), rm), 1e-6);
    }
}

TEST(CpuOps, EmbeddingGathersRows) {
    Rng rng(3);
    Tensor table = random_tensor({257, 33}, DType::BF16, rng);
    Tensor ids = Tensor::from_ints({4}, {0, 256, 5, 5});
    Guarded out({4, 33}, DType::F32);
    cpu().embedding(out.view, table, ids);
    EXPECT_TRUE(out.guards_intact());
    std::vector<float> t = table.to_floats(), o = out.view.to_floats();
    const int32_t want[4] = {0, 256, 5, 5};
    for (int r = 0; r < 4; ++r)
        for (int i = 0; i < 33; ++i) EXPECT_EQ(o[r * 33 + i], t[want[r] * 33 + i]);
    EXPECT_THROW(ops::embedding(table, Tensor::from_ints({1}, {257})), Error);
}

// The encoders' input: layer_norm of the summed lookups, against a sum and LayerNorm in double.
TEST(CpuOps, EmbeddingLayerNormSumsLookupsThenNormalizes) {
    const int64_t c = 24, n = 5;
    Rng rng(12);
    const Tensor word = random_tensor({50, c}, DType::F32, rng);
    const Tensor pos = random_tensor({9, c}, DType::BF16, rng);
    const Tensor w = random_tensor({c}, DType::F32, rng, 0.5, 1.5);
    const Tensor b = random_tensor({c}, DType::F32, rng, -1, 1);
    const Tensor ids = Tensor::from_ints({n}, {0, 49, 3, 3, 17});
    const Tensor at = Tensor::from_ints({n}, {0, 1, 2, 8, 4});
    const Tensor out = ops::embedding_layer_norm({word, pos}, {ids, at}, w, b, 1e-5f, DType::F32);
    ASSERT_EQ(out.shape(), (Shape{n, c}));
    const std::vector<float> wv = word.to_floats(), pv = pos.to_floats(), o = out.to_floats();
    const std::vector<float> g = w.to_floats(), bb = b.to_floats();
    for (int64_t r = 0; r < n; ++r) {
        std::vector<double> x(c);
        double mean = 0, var = 0;
        for (int64_t i = 0; i < c; ++i) {
            x[i] = double(wv[ids.data<int32_t>()[r] * c + i]) + pv[at.data<int32_t>()[r] * c + i];
            mean += x[i] / c;
        }
        for (int64_t i = 0; i < c; ++i) var += (x[i] - mean) * (x[i] - mean) / c;
        for (int64_t i = 0; i < c; ++i)
            EXPECT_NEAR(o[r * c + i], (x[i] - mean) / std::sqrt(var + 1e-5) * g[i] + bb[i], 1e-4)
                << "row " << r << " col " << i;
    }
    EXPECT_EQ(ops::embedding_layer_norm({word, pos}, {ids, at}, w, b, 1e-5f, DType::BF16).dtype(),
              DType::BF16);
    // Bad input: an id past a table, tables of different widths, a missing id list, short ids.
    EXPECT_THROW(ops::embedding_layer_norm({word, pos}, {ids, ids}, w, b, 1e-5f, DType::F32),
                 Error);  // 49 >= 9 positions
    EXPECT_THROW(ops::embedding_layer_norm({word, random_tensor({9, c + 1}, DType::F32, rng)},
                                           {ids, at}, w, b, 1e-5f, DType::F32),
                 Error);
    EXPECT_THROW(ops::embedding_layer_norm({word, pos}, {ids}, w, b, 1e-5f, DType::F32), Error);
    EXPECT_THROW(ops::embedding_layer_norm({word, pos}, {ids, Tensor::from_ints({2}, {0, 1})}, w, b,
                                           1e-5f, DType::F32),
                 Error);
    EXPECT_THROW(ops::embedding_layer_norm({word}, {ids}, random_tensor({c - 1}, DType::F32, rng),
                                           b, 1e-5f, DType::F32),
                 Error);
}

TEST(CpuOps, RopeRotatesHalves) {
    const int64_t n = 5, h = 3, hs = 32;
    Rng rng(11);
    Tensor x = random_tensor({n, h, hs}, DType::F32, rng);
    std::vector<float> before = x.to_floats();
    Tensor pos = Tensor::from_ints({n}, {0, 1, 7, 100, 4095});
    cpu().rope(x, pos, 10000.0f);
    std::vector<float> after = x.to_floats();
    const int32_t p[] = {0, 1, 7, 100, 4095};
    std::vector<double> ref(before.size());
    for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < h; ++j)
            for (int64_t i = 0; i < hs / 2; ++i) {
                const double inv = 1.0 / std::pow(10000.0, double(2 * i) / hs);
                const double ang = p[r] * inv, cs = std::cos(ang), sn = std::sin(ang);
                const size_t o = (r * h + j) * hs;
                ref[o + i] = before[o + i] * cs - before[o + i + hs / 2] * sn;
                ref[o + i + hs / 2] = before[o + i + hs / 2] * cs + before[o + i] * sn;
            }
    // f32 angles as transformers computes them: error grows with position (4095 * 2^-24 rad).
    EXPECT_LT(relative_error(after, ref), 2e-4);
    for (int64_t i = 0; i < h * hs; ++i) EXPECT_EQ(after[i], before[i]);  // position 0: identity
}

// Double-precision attention. lens: keys per batch row (empty = all S); bias: (NH, T + S - 1).
std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t B, int64_t T, int64_t NH,
                                  int64_t S, int64_t NKV, int64_t HS, int64_t off, double scale,
                                  bool causal = true, const std::vector<int32_t>& lens = {},
                                  const std::vector<float>& bias = {}) {
    std::vector<double> out(q.size());
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < NH; ++h) {
                const int64_t keys = lens.empty() ? S : lens[b];
                const int64_t kh = h / (NH / NKV),
                              vis = causal ? std::min(keys, off + t + 1) : keys;
                std::vector<double> p(vis);
                double mx = -1e300, sum = 0;
                for (int64_t s = 0; s < vis; ++s) {
                    double d = 0;
                    for (int64_t i = 0; i < HS; ++i)
                        d += double(q[((b * T + t) * NH + h) * HS + i]) *
                             k[((b * S + s) * NKV + kh) * HS + i];
                    p[s] = d * scale + (bias.empty() ? 0.0 : bias[h * (T + S - 1) + s - t + T - 1]);
                    mx = std::max(mx, p[s]);
                }
                for (auto& x : p) sum += (x = std::exp(x - mx));
                for (int64_t i = 0; i < HS; ++i) {
                    double acc = 0;
                    for (int64_t s = 0; s < vis; ++s)
                        acc += p[s] * v[((b * S + s) * NKV + kh) * HS + i];
                    out[((b * T + t) * NH + h) * HS + i] = vis > 0 ? acc / sum : 0.0;
                }
            }
    return out;
}

TEST(CpuOps, AttentionCausalGqaAllCacheDtypes) {
    struct Case {
        int64_t B, T, NH, NKV, HS, S_extra, offset;
    };
    for (DType kd : {DType::F32, DType::F16, DType::BF16})
        for (Case c : {Case{1, 1, 4, 2, 32, 0, 0}, Case{2, 33, 4, 1, 16, 0, 0},
                       Case{1, 1, 14, 2, 64, 0, 256}, Case{2, 5, 6, 3, 64, 0, 31},
                       Case{1, 130, 4, 2, 64, 0, 7}, Case{2, 16, 2, 2, 33, 0, 0},
                       Case{2, 300, 4, 2, 32, 0, 3}}) {
            Rng rng(c.T * 7 + c.HS);
            const int64_t S = c.offset + c.T;
            // The cache has spare capacity: k/v are strided views of (B, S+9, NKV, HS).
            Tensor kc = random_tensor({c.B, S + 9, c.NKV, c.HS}, kd, rng, -2, 2);
            Tensor vc = random_tensor({c.B, S + 9, c.NKV, c.HS}, kd, rng, -2, 2);
            Tensor k = kc.narrow(1, 0, S), v = vc.narrow(1, 0, S);
            Tensor q = random_tensor({c.B, c.T, c.NH, c.HS}, DType::F32, rng, -2, 2);
            Guarded out({c.B, c.T, c.NH, c.HS}, DType::F32);
            const float scale = 1.0f / std::sqrt(float(c.HS));
            AttentionMask mask;
            mask.q_offset = c.offset;
            cpu().attention(out.view, q, k, v, mask, scale);
            EXPECT_TRUE(out.guards_intact());
            auto ref =
                ref_attention(q.to_floats(), k.contiguous().to_floats(), v.contiguous().to_floats(),
                              c.B, c.T, c.NH, S, c.NKV, c.HS, c.offset, scale);
            EXPECT_LT(relative_error(out.view.to_floats(), ref), 1e-5)
                << dtype_name(kd) << " T=" << c.T << " off=" << c.offset;
        }
}

// The encoders' form: bidirectional, right-padded rows (one all padding), relative bias.
TEST(CpuOps, AttentionBidirectionalPaddedWithRelativeBias) {
    struct Case {
        int64_t B, T, NH, HS;
    };
    for (bool with_bias : {false, true})
        for (Case c :
             {Case{3, 1, 2, 16}, Case{3, 7, 4, 32}, Case{3, 33, 2, 64}, Case{3, 130, 3, 32}}) {
            Rng rng(c.T * 13 + c.HS + with_bias);
            Tensor q = random_tensor({c.B, c.T, c.NH, c.HS}, DType::F32, rng, -2, 2);
            Tensor k = random_tensor({c.B, c.T, c.NH, c.HS}, DType::F32, rng, -2, 2);
            Tensor v = random_tensor({c.B, c.T, c.NH, c.HS}, DType::F32, rng, -2, 2);
            std::vector<int32_t> lens = {int32_t(c.T), int32_t((c.T + 1) / 2), 0};
            AttentionMask mask;
            mask.causal = false;
            mask.key_lengths = Tensor::from_ints({c.B}, lens);
            std::vector<float> bias;
            if (with_bias) {
                mask.relative_bias = random_tensor({c.NH, 2 * c.T - 1}, DType::F32, rng, -3, 3);
                bias = mask.relative_bias.to_floats();
            }
            Guarded out({c.B, c.T, c.NH, c.HS}, DType::F32);
            const float scale = 1.0f / std::sqrt(float(c.HS));
            cpu().attention(out.view, q, k, v, mask, scale);
            EXPECT_TRUE(out.guards_intact());
            auto ref = ref_attention(q.to_floats(), k.to_floats(), v.to_floats(), c.B, c.T, c.NH,
                                     c.T, c.NH, c.HS, 0, scale, false, lens, bias);
            EXPECT_LT(relative_error(out.view.to_floats(), ref), 1e-5)
                << "T=" << c.T << " bias=" << with_bias;
        }
}

// Sentence pooling over packed sequences (lengths 1, 3, 17), every mode, with and without the
// L2 normalization, on the edge widths.
TEST(CpuOps, PoolMeanClsMaxOverSegments) {
    const std::vector<int32_t> seg = {0, 1, 4, 21};
    for (int64_t c : edge_sizes())
        for (PoolMode mode : {PoolMode::Mean, PoolMode::Cls, PoolMode::Max})
            for (bool normalize : {false, true}) {
                Rng rng(c * 3 + static_cast<int>(mode));
                Tensor x = random_tensor({21, c}, DType::F32, rng, -3, 3);
                Guarded out({3, c}, DType::F32);
                cpu().pool(out.view, x, Tensor::from_ints({4}, seg), mode, normalize);
                EXPECT_TRUE(out.guards_intact());
                const std::vector<float> xv = x.to_floats();
                std::vector<double> ref(static_cast<size_t>(3 * c));
                for (int64_t i = 0; i < 3; ++i) {
                    double squares = 0;
                    for (int64_t k = 0; k < c; ++k) {
                        double v = mode == PoolMode::Max ? -1e300 : 0.0;
                        for (int64_t r = seg[i];
                             r < (mode == PoolMode::Cls ? seg[i] + 1 : seg[i + 1]); ++r)
                            v = mode == PoolMode::Max ? std::max(v, double(xv[r * c + k]))
                                                      : v + xv[r * c + k];
                        if (mode == PoolMode::Mean) v /= seg[i + 1] - seg[i];
                        ref[i * c + k] = v;
                        squares += v * v;
                    }
                    if (normalize)
                        for (int64_t k = 0; k < c; ++k) ref[i * c + k] /= std::sqrt(squares);
                }
                EXPECT_LT(relative_error(out.view.to_floats(), ref), 1e-6)
                    << "C=" << c << " mode " << static_cast<int>(mode) << " norm " << normalize;
            }
}

// The fused decode ops against their definitions (product, add; two products, silu, multiply).
TEST(CpuOps, LinearAddAndSwigluMatchTheirCompositions) {
    for (DType wd : {DType::F32, DType::BF16})
        for (int64_t rows : {int64_t{1}, int64_t{3}, int64_t{17}}) {
            Rng rng(rows + 100);
            Tensor x = random_tensor({rows, 64}, DType::F32, rng, -1, 1);
            Tensor w = random_tensor({40, 64}, wd, rng, -0.2f, 0.2f);
            Tensor w2 = random_tensor({40, 64}, wd, rng, -0.2f, 0.2f);
            Tensor b = random_tensor({40}, DType::F32, rng, -1, 1);
            Tensor acc = random_tensor({rows, 40}, DType::F32, rng, -1, 1);
            const std::vector<float> before = acc.to_floats();
            cpu().linear_add(acc, x, w, b);
            Tensor y = Tensor::empty({rows, 40}, DType::F32);
            cpu().linear(y, x, w, b);
            const std::vector<float> yv = y.to_floats(), got = acc.to_floats();
            for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], before[i] + yv[i]);

            Tensor out = Tensor::empty({rows, 40}, DType::F32);
            cpu().swiglu(out, x, w, w2);
            Tensor up = Tensor::empty({rows, 40}, DType::F32);
            cpu().linear(up, x, w2, Tensor());
            cpu().linear(y, x, w, Tensor());
            const std::vector<float> g = y.to_floats(), u = up.to_floats(), o = out.to_floats();
            for (size_t i = 0; i < o.size(); ++i)
                EXPECT_NEAR(o[i], g[i] / (1.0 + std::exp(-double(g[i]))) * u[i], 1e-5);
        }
}

TEST(CpuOps, WriteRowsScattersAndConverts) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        Rng rng(5);
        Tensor cache = Tensor::zeros({2, 9, 3, 4}, dt);
        Tensor src = random_tensor({2, 2, 3, 4}, DType::F32, rng, -2, 2);
        cpu().write_rows(cache, src, Tensor::from_ints({2}, {7, 2}));
        const std::vector<float> c = cache.to_floats(), s = src.to_floats();
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t p = 0; p < 9; ++p)
                for (int64_t i = 0; i < 12; ++i) {
                    const int64_t t = p == 7 ? 0 : p == 2 ? 1 : -1;
                    const float want = t < 0 ? 0.0f : s[(b * 2 + t) * 12 + i];
                    EXPECT_NEAR(c[(b * 9 + p) * 12 + i], want, dt == DType::F32 ? 0 : 1e-2)
                        << dtype_name(dt);
                }
    }
}

TEST(CpuOps, ArgmaxTakesTheFirstMaximum) {
    for (int64_t v : edge_sizes()) {
        Rng rng(v);
        Tensor x = random_tensor({3, v}, DType::F32, rng, -5, 5);
        float* p = x.data<float>();
        p[v - 1] = 9.0f;      // row 0: the last element
        p[v + v / 2] = 9.0f;  // row 1: a tie, first wins
        p[v + v - 1] = 9.0f;
        p[2 * v] = 9.0f;  // row 2: the first element
        Tensor out = Tensor::empty({3}, DType::I32);
        cpu().argmax(out, x);
        EXPECT_EQ(out.data<int32_t>()[0], v - 1);
        EXPECT_EQ(out.data<int32_t>()[1], v / 2);
        EXPECT_EQ(out.data<int32_t>()[2], 0);
    }
}

TEST(CpuOps, CrossEntropyMatchesLogSoftmax) {
    for (int64_t vsz : edge_sizes()) {
        Rng rng(vsz);
        Tensor logits = random_tensor({3, vsz}, DType::F32, rng, -20, 20);
        std::vector<int32_t> tv = {0, int32_t(vsz - 1), int32_t(vsz / 2)};
        Tensor t = Tensor::from_ints({3}, tv);
        Guarded out({3}, DType::F32);
        cpu().cross_entropy(out.view, logits, t);
        EXPECT_TRUE(out.guards_intact());
        std::vector<float> l = logits.to_floats();
        std::vector<double> ref(3);
        for (int r = 0; r < 3; ++r) {
            double mx = *std::max_element(l.begin() + r * vsz, l.begin() + (r + 1) * vsz), s = 0;
            for (int64_t i = 0; i < vsz; ++i) s += std::exp(l[r * vsz + i] - mx);
            ref[r] = std::log(s) + mx - l[r * vsz + tv[r]];
        }
        EXPECT_LT(relative_error(out.view.to_floats(), ref), 1e-6);
    }
}

TEST(CpuOps, CopyConvertsAndHandlesStrides) {
    Rng rng(5);
    Tensor src = random_tensor({4, 6, 8}, DType::F32, rng);
    Tensor dst_full = Tensor::zeros({4, 10, 8}, DType::BF16);
    Tensor dst = dst_full.narrow(1, 2, 6);
    cpu().copy(dst, src);
    std::vector<float> s = src.to_floats(), d = dst.to_floats();
    for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(d[i], bf16_to_f32(f32_to_bf16(s[i])));
    std::vector<float> untouched = dst_full.narrow(1, 0, 2).to_floats();
    for (float x : untouched) EXPECT_EQ(x, 0.0f);
}

TEST(CpuOps, FrontEndsRejectBadShapes) {
    Tensor x = Tensor::zeros({2, 8}, DType::F32);
    EXPECT_THROW(ops::linear(x, Tensor::zeros({4, 7}, DType::F32)), Error);
    EXPECT_THROW(ops::rms_norm(x, Tensor::zeros({7}, DType::F32), 1e-6f), Error);
    EXPECT_THROW(ops::add(x, Tensor::zeros({8, 2}, DType::F32)), Error);
    try {
        ops::rms_norm(x, Tensor::zeros({7}, DType::F32), 1e-6f);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
        EXPECT_NE(std::string(e.what()).find("[rms_norm]"), std::string::npos);
    }
}

// longest_segment is a promise a backend tiles by: one the segments break, or out of range, is an
// error; the true longest (or more) computes what no hint computes.
TEST(CpuOps, AttentionChecksLongestSegment) {
    Rng rng(5);
    const Tensor q = random_tensor({1, 12, 2, 8}, DType::F32, rng, -1, 1);
    AttentionMask mask;
    mask.causal = false;
    mask.segments = Tensor::from_ints({4}, {0, 3, 10, 12});
    const Tensor want = ops::attention(q, q, q, mask, 0.5f);
    for (int64_t longest : {7, 12}) {
        mask.longest_segment = longest;
        EXPECT_EQ(ops::attention(q, q, q, mask, 0.5f).to_floats(), want.to_floats());
    }
    for (int64_t bad : {6, -1, 13}) {
        mask.longest_segment = bad;
        try {
            ops::attention(q, q, q, mask, 0.5f);
            ADD_FAILURE() << "longest_segment " << bad << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
            EXPECT_NE(std::string(e.what()).find("longest_segment"), std::string::npos) << bad;
        }
    }
    // host_segments: the same offsets on the CPU (for a device backend's planning); checked as
    // the segments are, and the values are the same with them.
    mask.longest_segment = 7;
    mask.host_segments = Tensor::from_ints({4}, {0, 3, 10, 12});
    EXPECT_EQ(ops::attention(q, q, q, mask, 0.5f).to_floats(), want.to_floats());
    for (const std::vector<int32_t>& bad :
         {std::vector<int32_t>{0, 3, 12}, {1, 3, 10, 12}, {0, 3, 3, 12}, {0, 2, 10, 12}}) {
        mask.host_segments = Tensor::from_ints({static_cast<int64_t>(bad.size())}, bad);
        EXPECT_THROW(ops::attention(q, q, q, mask, 0.5f), Error) << bad.size() << " " << bad[1];
    }
    mask.host_segments = Tensor::from_ints({4}, {0, 3, 10, 12});
    mask.segments = Tensor();
    mask.longest_segment = 0;
    EXPECT_THROW(ops::attention(q, q, q, mask, 0.5f), Error);  // without segments
}

}  // namespace
}  // namespace ferris::testing

namespace ferris::testing {

// decoder_layers_ checks every layer before the backend runs: a misshapen o projection, two rows
// of x, or no layers at all is an error, and x is left as it was.
TEST(CpuOps, DecoderLayersRejectsMisshapenInput) {
    const int64_t c = 16, inter = 24, nh = 2, nkv = 1, hs = 8, s = 4;
    Rng rng(5);
    DecoderLayer l;
    l.attn_norm = random_tensor({c}, DType::F32, rng);
    l.qkv = random_tensor({(nh + 2 * nkv) * hs, c}, DType::F32, rng);
    l.o = random_tensor({c, nh * hs}, DType::F32, rng);
    l.mlp_norm = random_tensor({c}, DType::F32, rng);
    l.gate = random_tensor({inter, c}, DType::F32, rng);
    l.up = random_tensor({inter, c}, DType::F32, rng);
    l.down = random_tensor({c, inter}, DType::F32, rng);
    l.k_cache = Tensor::zeros({1, s, nkv, hs}, DType::F32);
    l.v_cache = Tensor::zeros({1, s, nkv, hs}, DType::F32);
    DecoderStep step;
    step.heads = nh;
    step.position = Tensor::from_ints({1}, {0});
    step.key_count = Tensor::from_ints({1}, {1});
    Tensor x = random_tensor({1, c}, DType::F32, rng);
    const std::vector<float> before = x.to_floats();

    DecoderLayer bad = l;
    bad.o = random_tensor({c, nh * hs + 8}, DType::F32, rng);
    EXPECT_THROW(ops::decoder_layers_(x, {l, bad}, step), Error);
    Tensor two = random_tensor({2, c}, DType::F32, rng);
    EXPECT_THROW(ops::decoder_layers_(two, {l}, step), Error);
    EXPECT_THROW(ops::decoder_layers_(x, {}, step), Error);
    EXPECT_EQ(x.to_floats(), before);

    ops::decoder_layers_(x, {l, l}, step);  // well formed: runs, writes row 0 of the caches
    EXPECT_NE(x.to_floats(), before);
    EXPECT_NE(l.k_cache.to_floats(), std::vector<float>(static_cast<size_t>(s * nkv * hs), 0.0f));
}

// decoder_greedy_step_ is the embedding, the layers, the final norm's LM head and the argmax, the
// token replaced in place; a misshapen head or token is an error that leaves the token alone.
TEST(CpuOps, DecoderGreedyStepIsTheLayersAndTheArgmax) {
    const int64_t c = 16, inter = 24, nh = 2, nkv = 1, hs = 8, s = 4, v = 11;
    Rng rng(9);
    auto layer = [&] {
        DecoderLayer l;
        l.attn_norm = random_tensor({c}, DType::F32, rng, 0.5f, 1.5f);
        l.qkv = random_tensor({(nh + 2 * nkv) * hs, c}, DType::F32, rng);
        l.o = random_tensor({c, nh * hs}, DType::F32, rng);
        l.mlp_norm = random_tensor({c}, DType::F32, rng, 0.5f, 1.5f);
        l.gate = random_tensor({inter, c}, DType::F32, rng);
        l.up = random_tensor({inter, c}, DType::F32, rng);
        l.down = random_tensor({c, inter}, DType::F32, rng);
        return l;
    };
    const std::vector<DecoderLayer> weights = {layer(), layer()};
    auto with_caches = [&] {  // the layers with fresh zero caches
        std::vector<DecoderLayer> ls = weights;
        for (DecoderLayer& l : ls) {
            l.k_cache = Tensor::zeros({1, s, nkv, hs}, DType::F32);
            l.v_cache = Tensor::zeros({1, s, nkv, hs}, DType::F32);
        }
        return ls;
    };
    DecoderHead head;
    head.embed = random_tensor({v, c}, DType::F32, rng);
    head.final_norm = random_tensor({c}, DType::F32, rng, 0.5f, 1.5f);
    head.lm_head = random_tensor({v, c}, DType::F32, rng);
    DecoderStep step;
    step.heads = nh;
    step.eps = 1e-5f;
    step.position = Tensor::from_ints({1}, {0});
    step.key_count = Tensor::from_ints({1}, {1});

    Tensor x_ref = ops::embedding(head.embed, Tensor::from_ints({1}, {7}));
    ops::decoder_layers_(x_ref, with_caches(), step);
    const Tensor want = ops::rms_norm_linear(x_ref, head.final_norm, step.eps, head.lm_head);
    const std::vector<float> w = want.to_floats();
    const int32_t best = static_cast<int32_t>(std::max_element(w.begin(), w.end()) - w.begin());
    ASSERT_NE(best, 7);  // else the token left alone would pass

    Tensor token = Tensor::from_ints({1}, {7});
    Tensor x = Tensor::zeros({1, c}, DType::F32);
    const Tensor logits = ops::decoder_greedy_step_(token, x, head, with_caches(), step);
    EXPECT_EQ(logits.to_floats(), w);
    EXPECT_EQ(token.data<int32_t>()[0], best);

    Tensor two = Tensor::from_ints({2}, {7, 7});
    EXPECT_THROW(ops::decoder_greedy_step_(two, x, head, with_caches(), step), Error);
    DecoderHead narrow = head;
    narrow.lm_head = random_tensor({v, c + 1}, DType::F32, rng);
    EXPECT_THROW(ops::decoder_greedy_step_(token, x, narrow, with_caches(), step), Error);
    DecoderHead half = head;
    half.embed = random_tensor({v, c}, DType::F16, rng);
    EXPECT_THROW(ops::decoder_greedy_step_(token, x, half, with_caches(), step), Error);
    EXPECT_EQ(token.data<int32_t>()[0], best);
}

}  // namespace ferris::testing
