// CUDA backend ops against the CPU backend (the reference), op by op: edge sizes, weight dtypes
// (f32/bf16/f16), strided inputs, batches, NaN-poisoned outputs between guard words, half
// activations, copies with conversion and strides, uploads queued behind work, the allocator's
// reuse and its out-of-memory error. Attention has its own file (test_cuda_attention.cpp).
// Label `cuda`: every test skips itself when no CUDA device is present.
#include <algorithm>
#include <cstring>
#include <string>

#include "backends/cpu/gemm_bf16.h"
#include "backends/cuda/cuda_backend.h"
#include "cuda_harness.h"
#include "ops/ops.h"

namespace ferris::testing {
namespace {

using CudaOps = CudaTest;

// ---- linear ----

std::vector<double> ref_linear(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>& b, int64_t n, int64_t in, int64_t out) {
    std::vector<double> y(static_cast<size_t>(n * out));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t o = 0; o < out; ++o) {
            double s = b.empty() ? 0.0 : b[o];
            for (int64_t i = 0; i < in; ++i) s += double(x[r * in + i]) * w[o * in + i];
            y[r * out + o] = s;
        }
    return y;
}

float round_to(float v, DType dt) {
    if (dt == DType::BF16) return bf16_to_f32(f32_to_bf16(v));
    if (dt == DType::F16) return f16_to_f32(f32_to_f16(v));
    return v;
}

struct LinearCase {
    int64_t rows, in, out;
    DType dtype;
    bool bias;
};

class CudaLinear : public ::testing::TestWithParam<LinearCase> {
protected:
    void SetUp() override {
        std::string reason;
        if (cuda_device_count(&reason) == 0) GTEST_SKIP() << "no CUDA device: " << reason;
    }
};

TEST_P(CudaLinear, MatchesCpuAndReference) {
    const LinearCase c = GetParam();
    Rng rng(c.rows * 7919 + c.in * 131 + c.out + (c.bias ? 1 : 0));
    Tensor x = random_tensor({c.rows, c.in}, DType::F32, rng);
    Tensor w = random_tensor({c.out, c.in}, c.dtype, rng);
    Tensor b = c.bias ? random_tensor({c.out}, c.dtype, rng) : Tensor();
    Tensor want = Tensor::empty({c.rows, c.out}, DType::F32);
    cpu().linear(want, x, w, b);
    DeviceGuarded got({c.rows, c.out});
    gpu().linear(got.view, up(x), up(w), c.bias ? up(b) : Tensor());
    EXPECT_TRUE(got.guards_intact());
    const std::vector<float> g = got.values();
    // The GPU rounds x to the weight dtype (bf16/f16 tensor-core GEMM, f32 accumulation): against
    // a double reference with x rounded the same way only the summation order differs.
    std::vector<float> xr = x.to_floats();
    for (float& v : xr) v = round_to(v, c.dtype);
    const auto ref = ref_linear(xr, w.to_floats(), c.bias ? b.to_floats() : std::vector<float>{},
                                c.rows, c.in, c.out);
    const std::string what = std::to_string(c.rows) + "x" + std::to_string(c.in) + " -> " +
                             std::to_string(c.out) + " " + dtype_name(c.dtype);
    EXPECT_LT(relative_error(g, ref), 1e-5) << what;
    // Against the CPU: f32 weights and CPU bf16 GEMMs (AVX512-BF16, x rounded to bf16 too) agree to
    // f32 rounding. Otherwise the CPU keeps x in f32, and the GPU's rounding of x (unit roundoff
    // 2^-8 for bf16, 2^-11 for f16, per term) bounds the difference.
    const bool same_rounding =
        c.dtype == DType::F32 || (c.dtype == DType::BF16 && cpu::have_bf16_gemm());
    // The bound is per term; relative to the largest output it can reach a few units of roundoff
    // when the outputs are few (1x255 -> 1 f16 measured 2.7e-3), hence 5e-3 for f16.
    const double tol = same_rounding ? 1e-5 : c.dtype == DType::BF16 ? 1e-2 : 5e-3;
    EXPECT_LT(rel(g, want.to_floats()), tol) << what << " vs cpu";
}

std::vector<LinearCase> linear_cases() {
    std::vector<LinearCase> cases;
    const std::vector<int64_t>& e = edge_sizes();
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
        for (int64_t rows : {1, 2, 5, 33, 257})
            for (size_t i = 0; i < e.size(); ++i)
                cases.push_back({rows, e[i], e[(i + 3) % e.size()], dt, (rows + i) % 2 == 0});
    cases.push_back({64, 896, 4864, DType::BF16, true});  // a Qwen2-0.5B MLP shape
    cases.push_back({3, 4096, 512, DType::F32, false});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaLinear, ::testing::ValuesIn(linear_cases()));

// ---- norms, elementwise, embedding, rope, loss ----

TEST_F(CudaOps, RmsNormMatchesCpu) {
    for (DType wd : {DType::F32, DType::BF16, DType::F16})
        for (int64_t c : edge_sizes()) {
            Rng rng(c + 17);
            Tensor x = random_tensor({2, 3, c}, DType::F32, rng, -3, 3);  // batch x rows
            Tensor w = random_tensor({c}, wd, rng, 0.5, 1.5);
            Tensor want = Tensor::empty({2, 3, c}, DType::F32);
            cpu().rms_norm(want, x, w, 1e-6f);
            DeviceGuarded got({2, 3, c});
            gpu().rms_norm(got.view, up(x), up(w), 1e-6f);
            EXPECT_TRUE(got.guards_intact());
            EXPECT_LT(rel(got.values(), want.to_floats()), 1e-5) << c << dtype_name(wd);
        }
}

TEST_F(CudaOps, LayerNormMatchesCpu) {
    for (DType wd : {DType::F32, DType::BF16, DType::F16})
        for (int64_t c : edge_sizes()) {
            Rng rng(c + 19);
            Tensor x = random_tensor({4, c}, DType::F32, rng, 2, 6);  // offset mean
            Tensor w = random_tensor({c}, wd, rng, 0.5, 1.5);
            Tensor b = random_tensor({c}, DType::F32, rng, -0.5, 0.5);
            Tensor want = Tensor::empty({4, c}, DType::F32);
            cpu().layer_norm(want, x, w, b, 1e-12f);
            DeviceGuarded got({4, c});
            gpu().layer_norm(got.view, up(x), up(w), up(b), 1e-12f);
            EXPECT_TRUE(got.guards_intact());
            EXPECT_LT(rel(got.values(), want.to_floats()), 2e-5) << c << dtype_name(wd);
        }
}

TEST_F(CudaOps, ElementwiseMatchesCpu) {
    for (int64_t c : edge_sizes()) {
        Rng rng(c + 23);
        Tensor a = random_tensor({3, c}, DType::F32, rng, -8, 8);
        Tensor b = random_tensor({3, c}, DType::F32, rng, -8, 8);
        Tensor da = up(a), db = up(b);
        for (float alpha : {1.0f, 0.5f}) {
            Tensor want = Tensor::empty({3, c}, DType::F32);
            cpu().add(want, a, b, alpha);
            DeviceGuarded got({3, c});
            gpu().add(got.view, da, db, alpha);
            EXPECT_TRUE(got.guards_intact());
            EXPECT_LT(rel(got.values(), want.to_floats()), 1e-6) << c;
        }
        Tensor want = Tensor::empty({3, c}, DType::F32);
        cpu().silu_mul(want, a, b);
        DeviceGuarded got({3, c});
        gpu().silu_mul(got.view, da, db);
        EXPECT_TRUE(got.guards_intact());
        EXPECT_LT(rel(got.values(), want.to_floats()), 2e-6) << c;
        cpu().gelu(want, a);
        DeviceGuarded g2({3, c});
        gpu().gelu(g2.view, da);
        EXPECT_TRUE(g2.guards_intact());
        EXPECT_LT(rel(g2.values(), want.to_floats()), 2e-6) << c;
        // In place: out aliases a.
        Tensor in_place = up(a);
        gpu().add(in_place, in_place, db, 1.0f);
        cpu().add(want, a, b, 1.0f);
        EXPECT_LT(rel(down(in_place).to_floats(), want.to_floats()), 1e-6) << c;
    }
}

TEST_F(CudaOps, EmbeddingGathersRows) {
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
        for (int64_t c : edge_sizes()) {
            Rng rng(c + 29);
            Tensor table = random_tensor({257, c}, dt, rng);
            Tensor ids = Tensor::from_ints({5}, {0, 256, 5, 5, 128});
            Tensor want = Tensor::empty({5, c}, DType::F32);
            cpu().embedding(want, table, ids);
            DeviceGuarded got({5, c});
            gpu().embedding(got.view, up(table), up(ids));
            EXPECT_TRUE(got.guards_intact());
            EXPECT_EQ(got.values(), want.to_floats()) << c << dtype_name(dt);
        }
}

TEST_F(CudaOps, RopeMatchesCpu) {
    for (int64_t hs : {2, 32, 64, 128})
        for (float theta : {10000.0f, 1000000.0f}) {
            const std::vector<int32_t> p = {0, 1, 7, 100, 4095, 32767};
            const int64_t n = static_cast<int64_t>(p.size()), h = 3;
            Rng rng(hs);
            Tensor x = random_tensor({n, h, hs}, DType::F32, rng);
            Tensor pos = Tensor::from_ints({n}, p);
            Tensor dx = up(x);
            gpu().rope(dx, up(pos), theta);
            Tensor want = x.contiguous();
            cpu().rope(want, pos, theta);
            // Same f32 angles; only cosf/sinf may differ by an ulp or two.
            EXPECT_LT(rel(down(dx).to_floats(), want.to_floats()), 1e-5) << hs << " " << theta;
        }
}

TEST_F(CudaOps, CrossEntropyMatchesCpu) {
    std::vector<int64_t> sizes = edge_sizes();
    sizes.push_back(151936);  // the Qwen2 vocabulary
    for (int64_t v : sizes) {
        Rng rng(v + 31);
        Tensor logits = random_tensor({3, v}, DType::F32, rng, -20, 20);
        Tensor t = Tensor::from_ints({3}, {0, int32_t(v - 1), int32_t(v / 2)});
        Tensor want = Tensor::empty({3}, DType::F32);
        cpu().cross_entropy(want, logits, t);
        DeviceGuarded got({3});
        gpu().cross_entropy(got.view, up(logits), up(t));
        EXPECT_TRUE(got.guards_intact());
        EXPECT_LT(rel(got.values(), want.to_floats()), 1e-5) << v;
    }
}

TEST_F(CudaOps, PoolMatchesCpu) {
    const std::vector<int32_t> seg = {0, 1, 4, 21, 300};
    for (int64_t c : edge_sizes())
        for (PoolMode mode : {PoolMode::Mean, PoolMode::Cls, PoolMode::Max})
            for (bool normalize : {false, true}) {
                Rng rng(c + 7 * static_cast<int>(mode));
                Tensor x = random_tensor({300, c}, DType::F32, rng, -3, 3);
                Tensor segments = Tensor::from_ints({5}, seg);
                Tensor want = Tensor::empty({4, c}, DType::F32);
                cpu().pool(want, x, segments, mode, normalize);
                DeviceGuarded got({4, c});
                gpu().pool(got.view, up(x), up(segments), mode, normalize);
                EXPECT_TRUE(got.guards_intact());
                EXPECT_LT(rel(got.values(), want.to_floats()), 1e-5)
                    << "C=" << c << " mode " << static_cast<int>(mode) << " norm " << normalize;
            }
}

// The fused decode ops: the GEMV path (1..4 rows) and the fallback (more rows), bf16/f16.
TEST_F(CudaOps, LinearAddAndSwigluMatchCpu) {
    for (DType wd : {DType::BF16, DType::F16})
        for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{7}})
            for (int64_t in : {int64_t{64}, int64_t{896}, int64_t{4864}}) {
                Rng rng(rows * 31 + in);
                Tensor x = random_tensor({rows, in}, DType::F32, rng, -1, 1);
                Tensor w = random_tensor({72, in}, wd, rng, -0.1f, 0.1f);
                Tensor w2 = random_tensor({72, in}, wd, rng, -0.1f, 0.1f);
                Tensor b = random_tensor({72}, DType::F32, rng, -1, 1);
                Tensor acc = random_tensor({rows, 72}, DType::F32, rng, -1, 1);
                // The CPU reference with x rounded as the GPU rounds it (weight dtype).
                Tensor xr = x.contiguous();
                for (int64_t i = 0; i < xr.numel(); ++i)
                    xr.data<float>()[i] = round_to(xr.data<float>()[i], wd);
                Tensor want = acc.contiguous();
                cpu().linear_add(want, xr, w, b);
                Tensor got = up(acc);
                gpu().linear_add(got, up(x), up(w), up(b));
                const std::string what = std::to_string(rows) + "x" + std::to_string(in);
                EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), 1e-4) << what;
                Tensor want2 = Tensor::empty({rows, 72}, DType::F32);
                cpu().swiglu(want2, xr, w, w2);
                DeviceGuarded got2({rows, 72});
                gpu().swiglu(got2.view, up(x), up(w), up(w2));
                EXPECT_TRUE(got2.guards_intact());
                EXPECT_LT(rel(got2.values(), want2.to_floats()), 1e-4) << what << " swiglu";
            }
}

// The pre-norm fusions of decode: rms_norm_linear, rms_norm_swiglu and the whole q/k/v step
// (rms_norm_qkv_rope: product, bias, rope, cache writes) against the CPU composing the plain ops
// on x normalized and rounded to the weight dtype as the GPU rounds it. 1..4 rows take the GEMV
// kernels; 7 rows the GEMM fallback. GQA heads (3 q, 1 k/v), cache rows at scattered positions.
TEST_F(CudaOps, FusedNormProductsMatchCpu) {
    const float eps = 1e-6f, theta = 1000000.0f;
    for (DType wd : {DType::BF16, DType::F16})
        for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{7}})
            for (int64_t hs : {int64_t{32}, int64_t{64}}) {
                const int64_t in = hs == 32 ? 64 : 896, nh = 3, nkv = 1, S = 16;
                const int64_t outs = (nh + 2 * nkv) * hs;
                const std::string what = dtype_name(wd) + std::string(" rows ") +
                                         std::to_string(rows) + " hs " + std::to_string(hs);
                Rng rng(rows * 131 + hs + (wd == DType::BF16 ? 7 : 0));
                Tensor x = random_tensor({rows, in}, DType::F32, rng, -2, 2);
                Tensor g = random_tensor({in}, DType::F32, rng, 0.5f, 1.5f);
                Tensor w = random_tensor({outs, in}, wd, rng, -0.1f, 0.1f);
                Tensor w2 = random_tensor({outs, in}, wd, rng, -0.1f, 0.1f);
                Tensor b = random_tensor({outs}, DType::F32, rng, -1, 1);
                Tensor h = Tensor::empty({rows, in}, DType::F32);
                cpu().rms_norm(h, x, g, eps);
                for (int64_t i = 0; i < h.numel(); ++i)
                    h.data<float>()[i] = round_to(h.data<float>()[i], wd);

                Tensor want = Tensor::empty({rows, outs}, DType::F32);
                cpu().linear(want, h, w, b);
                DeviceGuarded got({rows, outs});
                gpu().rms_norm_linear(got.view, up(x), up(g), eps, up(w), up(b));
                EXPECT_TRUE(got.guards_intact()) << what;
                EXPECT_LT(rel(got.values(), want.to_floats()), 1e-3) << what << " rms_norm_linear";

                Tensor want2 = Tensor::empty({rows, outs}, DType::F32);
                cpu().swiglu(want2, h, w, w2);
                DeviceGuarded got2({rows, outs});
                gpu().rms_norm_swiglu(got2.view, up(x), up(g), eps, up(w), up(w2));
                EXPECT_TRUE(got2.guards_intact()) << what;
                EXPECT_LT(rel(got2.values(), want2.to_floats()), 1e-3) << what << " swiglu";

                const std::vector<int32_t> all_pos = {5, 0, 15, 9, 3, 12, 7};
                Tensor pos = Tensor::from_ints(
                    {rows}, std::vector<int32_t>(all_pos.begin(), all_pos.begin() + rows));
                for (DType cd : {DType::F32, DType::BF16}) {
                    Tensor kc = Tensor::zeros({1, S, nkv, hs}, cd),
                           vc = Tensor::zeros({1, S, nkv, hs}, cd);
                    Tensor q_want = Tensor::empty({rows, nh, hs}, DType::F32);
                    cpu().rope_qkv(q_want, kc, vc, want, pos, theta);
                    Tensor dk = up(Tensor::zeros({1, S, nkv, hs}, cd)),
                           dv = up(Tensor::zeros({1, S, nkv, hs}, cd));
                    DeviceGuarded q_got({rows, nh, hs});
                    gpu().rms_norm_qkv_rope(q_got.view, dk, dv, up(x), up(g), eps, up(w), up(b),
                                            up(pos), theta);
                    EXPECT_TRUE(q_got.guards_intact()) << what;
                    const double tol = cd == DType::F32 ? 1e-3 : 5e-3;  // a rounding may flip
                    EXPECT_LT(rel(q_got.values(), q_want.to_floats()), 1e-3) << what << " q";
                    EXPECT_LT(rel(down(dk).to_floats(), kc.to_floats()), tol) << what << " k";
                    EXPECT_LT(rel(down(dv).to_floats(), vc.to_floats()), tol) << what << " v";
                }
            }
}

TEST_F(CudaOps, WriteRowsAndArgmaxMatchCpu) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        Rng rng(11);
        Tensor src = random_tensor({1, 3, 2, 64}, DType::F32, rng, -2, 2);
        Tensor rows = Tensor::from_ints({3}, {5, 0, 9});
        Tensor want = Tensor::zeros({1, 12, 2, 64}, dt);
        cpu().write_rows(want, src, rows);
        Tensor got = up(Tensor::zeros({1, 12, 2, 64}, dt));
        gpu().write_rows(got, up(src), up(rows));
        EXPECT_EQ(down(got).to_floats(), want.to_floats()) << dtype_name(dt);
    }
    std::vector<int64_t> sizes = edge_sizes();
    sizes.push_back(151936);
    for (int64_t v : sizes) {
        Rng rng(v + 3);
        Tensor x = random_tensor({2, v}, DType::F32, rng, -5, 5);
        x.data<float>()[v + v - 1] = 9.0f;  // a tie in row 1: the first one wins
        x.data<float>()[v + v / 3] = 9.0f;
        Tensor want = Tensor::empty({2}, DType::I32);
        cpu().argmax(want, x);
        Tensor got = up(Tensor::from_ints({2}, {-1, -1}));
        gpu().argmax(got, up(x));
        const Tensor g = down(got);
        EXPECT_EQ(g.data<int32_t>()[0], want.data<int32_t>()[0]) << v;
        EXPECT_EQ(g.data<int32_t>()[1], want.data<int32_t>()[1]) << v;
    }
}

// A recorded step (a CUDA graph) replays with new device-side inputs and reuses no memory that
// other tensors take afterwards.
TEST_F(CudaOps, RecordedStepReplaysWithNewInputs) {
    Tensor a = up(Tensor::from_floats({4}, {1, 2, 3, 4}));
    Tensor b = up(Tensor::from_floats({4}, {10, 20, 30, 40}));
    Tensor out;
    auto step = gpu().record([&] { out = ops::add(a, ops::add(b, b), 0.5f); });
    step->replay();
    EXPECT_EQ(down(out).to_floats(), (std::vector<float>{11, 22, 33, 44}));
    ops::copy_(b, Tensor::from_floats({4}, {2, 4, 6, 8}));
    Tensor other = up(Tensor::from_floats({4}, {7, 7, 7, 7}));  // must not alias the step's memory
    step->replay();
    EXPECT_EQ(down(out).to_floats(), (std::vector<float>{3, 6, 9, 12}));
    EXPECT_EQ(down(other).to_floats(), (std::vector<float>{7, 7, 7, 7}));
}

// Readback slots hold the tensor as the stream had it at each post(), whatever is queued after.
TEST_F(CudaOps, ReadbackSlotsHoldTheValueAtTheirPost) {
    Tensor t = up(Tensor::from_ints({1}, {7}));
    auto slots = gpu().readback(2, sizeof(int32_t));
    slots->post(0, t);
    ops::copy_(t, Tensor::from_ints({1}, {9}));  // queued after the first copy
    slots->post(1, t);
    int32_t first = 0, second = 0;
    std::memcpy(&second, slots->take(1), sizeof second);
    std::memcpy(&first, slots->take(0), sizeof first);
    EXPECT_EQ(first, 7);
    EXPECT_EQ(second, 9);
    EXPECT_THROW(slots->post(2, t), Error);                                   // no such slot
    EXPECT_THROW(slots->post(0, up(Tensor::from_ints({2}, {1, 2}))), Error);  // over a slot
}

// Half-precision activations (a GPU encoder in bf16/f16): every op that takes them, against the
// CPU, which computes in f32 and rounds its result to the same dtype.
TEST_F(CudaOps, HalfActivationOpsMatchCpu) {
    for (DType dt : {DType::BF16, DType::F16}) {
        const double tol = dt == DType::BF16 ? 1e-2 : 2e-3;
        const char* name = dtype_name(dt);
        Rng rng(dt == DType::BF16 ? 11 : 12);
        auto check = [&](const Tensor& got, const Tensor& want, const char* what) {
            EXPECT_EQ(got.dtype(), want.dtype()) << what << " " << name;
            EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), tol) << what << " " << name;
        };
        const Tensor x = random_tensor({37, 64}, dt, rng, -2, 2);
        const Tensor x32 = random_tensor({37, 64}, DType::F32, rng, -2, 2);
        const Tensor w = random_tensor({48, 64}, dt, rng, -1, 1);
        const Tensor b = random_tensor({48}, DType::F32, rng, -1, 1);
        const Tensor g = random_tensor({64}, DType::F32, rng, 0.5, 1.5);
        check(ops::linear(up(x), up(w), up(b)), ops::linear(x, w, b), "linear");
        check(ops::linear(up(x), up(w)), ops::linear(x, w), "linear without bias");
        check(ops::layer_norm(up(x32), up(g), up(g), 1e-5f, dt),
              ops::layer_norm(x32, g, g, 1e-5f, dt), "layer_norm f32 -> half");
        check(ops::layer_norm(up(x), up(g), up(g), 1e-5f), ops::layer_norm(x, g, g, 1e-5f),
              "layer_norm half -> half");
        check(ops::gelu(up(x)), ops::gelu(x), "gelu");
        check(ops::gelu(up(x.narrow(0, 0, 3))), ops::gelu(x.narrow(0, 0, 3)), "gelu, 192 elements");
        {  // in place, 16-byte vectors (37 x 64) and a ragged length (7 x 9)
            for (int64_t rows : {37, 7}) {
                const Tensor part = x.narrow(0, 0, rows).narrow(1, 0, rows == 7 ? 9 : 64);
                const Tensor xc = part.contiguous();
                Tensor d = up(xc);
                ops::gelu_(d);
                check(d, ops::gelu(xc), "gelu_ in place");
            }
        }
        const Tensor r = random_tensor({37, 64}, dt, rng, -2, 2);
        check(ops::add_layer_norm(up(x), up(r), up(g), up(g), 1e-5f),
              ops::add_layer_norm(x, r, g, g, 1e-5f), "add_layer_norm");
        const Tensor y = random_tensor({37, 64}, dt, rng, -2, 2);
        check(ops::add(up(x), up(y), 0.5f), ops::add(x, y, 0.5f), "add");
        const Tensor seg = Tensor::from_ints({4}, {0, 5, 6, 37});
        for (PoolMode mode : {PoolMode::Mean, PoolMode::Cls, PoolMode::Max}) {
            const Tensor got = ops::pool(up(x), up(seg), mode, true);
            const Tensor want = ops::pool(x, seg, mode, true);
            EXPECT_EQ(got.dtype(), DType::F32);
            EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), 1e-5) << "pool " << name;
        }
        // Attention with q, k, v and the output in the half dtype (the tensor-core kernel), over
        // packed segments with a relative bias, as the encoders call it.
        for (int64_t hs : {32, 64}) {
            const Tensor q = random_tensor({1, 90, 4, hs}, dt, rng, -2, 2);
            const Tensor k = random_tensor({1, 90, 4, hs}, dt, rng, -2, 2);
            const Tensor v = random_tensor({1, 90, 4, hs}, dt, rng, -2, 2);
            AttentionMask mask;
            mask.causal = false;
            mask.precision = dt;
            mask.segments = Tensor::from_ints({5}, {0, 5, 40, 41, 90});
            mask.relative_bias = random_tensor({4, 99}, DType::F32, rng, -3, 3);
            AttentionMask dmask = mask;
            dmask.segments = up(mask.segments);
            dmask.relative_bias = up(mask.relative_bias);
            const float scale = 1.0f / std::sqrt(float(hs));
            check(ops::attention(up(q), up(k), up(v), dmask, scale),
                  ops::attention(q, k, v, mask, scale), "attention");
        }
    }
}

// add_layer_norm in f32: the one-warp-per-row kernel (C <= 1024), and the fallback for wide rows.
TEST_F(CudaOps, AddLayerNormMatchesCpu) {
    Rng rng(21);
    for (int64_t c : {4, 64, 384, 768, 1024, 1100, 30}) {
        const Tensor x = random_tensor({33, c}, DType::F32, rng, -3, 3);
        const Tensor r = random_tensor({33, c}, DType::F32, rng, -3, 3);
        const Tensor w = random_tensor({c}, DType::F32, rng, 0.5, 1.5);
        const Tensor b = random_tensor({c}, DType::F32, rng, -1, 1);
        const Tensor got = ops::add_layer_norm(up(x), up(r), up(w), up(b), 1e-12f);
        const Tensor want = ops::add_layer_norm(x, r, w, b, 1e-12f);
        EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), 1e-5) << "C=" << c;
        const Tensor ln = ops::layer_norm(up(x), up(w), up(b), 1e-12f);
        EXPECT_LT(rel(down(ln).to_floats(), ops::layer_norm(x, w, b, 1e-12f).to_floats()), 1e-5)
            << "layer_norm C=" << c;
    }
}

// add_layer_norm with half activations at the encoders' widths and others (the one-warp kernel up
// to 1,024, the block kernel past it), weights in f32 or in the activations' dtype.
TEST_F(CudaOps, AddLayerNormHalfMatchesCpu) {
    Rng rng(22);
    for (DType dt : {DType::F16, DType::BF16}) {
        const double tol = dt == DType::BF16 ? 1e-2 : 2e-3;
        for (DType wd : {DType::F32, dt}) {
            for (int64_t c : {8, 64, 384, 768, 1000, 1024, 36, 1100}) {
                for (int64_t n : {1, 300}) {
                    const Tensor x = random_tensor({n, c}, dt, rng, -3, 3);
                    const Tensor r = random_tensor({n, c}, dt, rng, -3, 3);
                    const Tensor w = random_tensor({c}, wd, rng, 0.5, 1.5);
                    const Tensor b = random_tensor({c}, wd, rng, -1, 1);
                    const Tensor got = ops::add_layer_norm(up(x), up(r), up(w), up(b), 1e-12f);
                    const Tensor want = ops::add_layer_norm(x, r, w, b, 1e-12f);
                    EXPECT_EQ(got.dtype(), dt);
                    EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), tol)
                        << dtype_name(dt) << " weights " << dtype_name(wd) << " C=" << c
                        << " N=" << n;
                }
            }
        }
    }
}

// The fused embedding + LayerNorm: the same values as the lookups, adds and LayerNorm run as
// separate ops on the GPU (bit for bit), and close to the CPU; two and three tables, f32 and
// half tables and outputs, widths the one-warp kernel takes and one it does not (1,100).
TEST_F(CudaOps, EmbeddingLayerNormMatchesSeparateOps) {
    Rng rng(24);
    for (DType table_dt : {DType::F32, DType::F16, DType::BF16}) {
        for (int64_t c : {64, 384, 768, 1100}) {
            const int64_t n = 77;
            std::vector<Tensor> tables, ids, dtables, dids;
            for (int64_t v : {300, 120, 2}) {
                tables.push_back(random_tensor({v, c}, table_dt, rng, -1, 1));
                std::vector<int32_t> pick(n);
                for (int64_t r = 0; r < n; ++r) pick[r] = static_cast<int32_t>((r * 37 + v) % v);
                ids.push_back(Tensor::from_ints({n}, pick));
                dtables.push_back(up(tables.back()));
                dids.push_back(up(ids.back()));
            }
            const Tensor w = random_tensor({c}, table_dt, rng, 0.5, 1.5);
            const Tensor b = random_tensor({c}, table_dt, rng, -1, 1);
            for (size_t count : {2, 3}) {
                const std::vector<Tensor> t(tables.begin(), tables.begin() + count),
                    i(ids.begin(), ids.begin() + count),
                    dt(dtables.begin(), dtables.begin() + count),
                    di(dids.begin(), dids.begin() + count);
                for (DType out_dt : {DType::F32, table_dt == DType::F32 ? DType::F16 : table_dt}) {
                    const Tensor got =
                        ops::embedding_layer_norm(dt, di, up(w), up(b), 1e-12f, out_dt);
                    Tensor sum = ops::embedding(dt[0], di[0]);
                    for (size_t k = 1; k < count; ++k) ops::add_(sum, ops::embedding(dt[k], di[k]));
                    const Tensor separate = ops::layer_norm(sum, up(w), up(b), 1e-12f, out_dt);
                    const std::string what = std::string(dtype_name(table_dt)) + " tables, " +
                                             dtype_name(out_dt) + " out, C=" + std::to_string(c) +
                                             ", " + std::to_string(count) + " tables";
                    EXPECT_EQ(down(got).to_floats(), down(separate).to_floats()) << what;
                    const Tensor cpu = ops::embedding_layer_norm(t, i, w, b, 1e-12f, out_dt);
                    EXPECT_LT(rel(down(got).to_floats(), cpu.to_floats()),
                              out_dt == DType::F32   ? 1e-5
                              : out_dt == DType::F16 ? 2e-3
                                                     : 1e-2)
                        << what;
                }
            }
        }
    }
}

// Pooling of half activations: the 16-byte kernel (C % 8 == 0, up to 1,024; eight warps share a
// sequence's rows) and the per-column kernel otherwise; sequences of 1 to 300 rows.
TEST_F(CudaOps, PoolHalfMatchesCpu) {
    Rng rng(23);
    const Tensor seg = Tensor::from_ints({6}, {0, 1, 9, 10, 310, 317});
    for (DType dt : {DType::F16, DType::BF16}) {
        for (int64_t c : {8, 384, 768, 1024, 36, 1032}) {
            const Tensor x = random_tensor({317, c}, dt, rng, -2, 2);
            for (PoolMode mode : {PoolMode::Mean, PoolMode::Cls, PoolMode::Max}) {
                for (bool normalize : {true, false}) {
                    const Tensor got = ops::pool(up(x), up(seg), mode, normalize);
                    const Tensor want = ops::pool(x, seg, mode, normalize);
                    EXPECT_LT(rel(down(got).to_floats(), want.to_floats()), 1e-5)
                        << dtype_name(dt) << " C=" << c << " mode " << int(mode)
                        << (normalize ? " normalized" : "");
                }
            }
        }
    }
}

// ---- copies and memory ----

TEST_F(CudaOps, CopyRoundTripsConvertAndHandleStrides) {
    Rng rng(5);
    Tensor src = random_tensor({4, 6, 8}, DType::F32, rng);
    // Host f32 -> device bf16 (converted on upload) -> host f32: the CPU's bf16 rounding.
    Tensor dev = gpu().empty({4, 6, 8}, DType::BF16);
    ops::copy_(dev, src);
    Tensor back = Tensor::empty({4, 6, 8}, DType::F32);
    ops::copy_(back, dev);
    std::vector<float> s = src.to_floats(), b = back.to_floats();
    for (size_t i = 0; i < s.size(); ++i) ASSERT_EQ(b[i], bf16_to_f32(f32_to_bf16(s[i])));
    // Into a strided device view (a KV-cache narrow), converting to f16; the rest is untouched.
    Tensor cache = up(Tensor::zeros({4, 10, 8}, DType::F16));
    Tensor slot = cache.narrow(1, 2, 6);
    ops::copy_(slot, src);
    Tensor host_cache = down(cache);
    std::vector<float> hc = host_cache.narrow(1, 2, 6).to_floats();
    for (size_t i = 0; i < s.size(); ++i) ASSERT_EQ(hc[i], f16_to_f32(f32_to_f16(s[i])));
    for (int64_t j : {0, 1, 8, 9})
        for (float v : host_cache.narrow(1, j, 1).to_floats()) ASSERT_EQ(v, 0.0f);
    // Strided device source -> strided host destination, f16 -> f32.
    Tensor host_dst_full = Tensor::zeros({4, 7, 8}, DType::F32);
    Tensor host_dst = host_dst_full.narrow(1, 1, 6);
    ops::copy_(host_dst, slot);
    EXPECT_EQ(host_dst.to_floats(), hc);
    // Device -> device, strided source with a non-contiguous last dim (a transpose), bf16 -> f32.
    Tensor m = random_tensor({6, 5}, DType::BF16, rng);
    Tensor dm = up(m);
    Tensor dt(dm.storage(), 0, {5, 6}, {1, 5}, DType::BF16);
    Tensor out = gpu().empty({5, 6}, DType::F32);
    ops::copy_(out, dt);
    std::vector<float> mv = m.to_floats(), ov = down(out).to_floats();
    for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 6; ++j) ASSERT_EQ(ov[i * 6 + j], mv[j * 5 + i]);
    // Integers travel unchanged.
    Tensor ids = Tensor::from_ints({3}, {-7, 0, 2147483647});
    EXPECT_EQ(std::memcmp(down(up(ids)).raw(), ids.raw(), 12), 0);
}

TEST_F(CudaOps, LargeCopyCrossesStagingChunks) {
    Rng rng(9);
    const int64_t n = (int64_t(5) << 20) + 3;  // 20 MiB of f32: three staging chunks
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = rng.uniform(-1, 1);
    Tensor src = Tensor::from_floats({n}, v);
    Tensor back = down(up(src));
    EXPECT_EQ(std::memcmp(back.raw(), src.raw(), src.nbytes()), 0);
    Tensor half = gpu().empty({n}, DType::F16);
    ops::copy_(half, src);
    std::vector<float> hv = down(half).to_floats();
    for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(hv[i], f16_to_f32(f32_to_f16(v[i])));
}

// Small uploads take turns in a ring of pinned slots: 40 of them (more than the ring holds),
// queued behind a long device copy so that their DMAs wait, each with its own bytes, of sizes
// across the small/large boundary (256 KiB). Every one must arrive as it was given.
TEST_F(CudaOps, SmallUploadsQueuedBehindWorkKeepTheirBytes) {
    const int64_t big = int64_t(64) << 20;  // 256 MiB of f32 copied on the device first
    Tensor a = gpu().empty({big}, DType::F32), b = gpu().empty({big}, DType::F32);
    std::vector<Tensor> sent, got;
    for (int r = 0; r < 40; ++r) {
        if (r % 10 == 0) ops::copy_(b, a);  // the stream is busy while the uploads queue
        const int64_t n = r == 7 ? (int64_t(64) << 10) + 1 : 1 + (r * 977) % 20000;
        std::vector<int32_t> v(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = r * 1000003 + int32_t(i);
        sent.push_back(Tensor::from_ints({n}, v));
        got.push_back(up(sent.back()));
    }
    for (size_t r = 0; r < sent.size(); ++r) {
        const Tensor back = down(got[r]);
        EXPECT_EQ(std::memcmp(back.raw(), sent[r].raw(), sent[r].nbytes()), 0) << "upload " << r;
    }
}

TEST_F(CudaOps, AllocatorReusesFreedBlocks) {
    auto& be = dynamic_cast<cuda::CudaBackend&>(gpu());
    { Tensor warm = be.empty({1000, 7}, DType::F32); }
    const cuda::AllocatorStats before = be.allocator_stats();
    for (int i = 0; i < 10; ++i) Tensor t = be.empty({1000, 7}, DType::F32);
    const cuda::AllocatorStats after = be.allocator_stats();
    EXPECT_EQ(after.device_mallocs, before.device_mallocs);
    EXPECT_GE(after.cache_hits, before.cache_hits + 10);
    EXPECT_EQ(after.in_use_bytes, before.in_use_bytes);
    EXPECT_EQ(cuda::CachingAllocator::bucket_size(1), 512u);
    EXPECT_EQ(cuda::CachingAllocator::bucket_size(size_t(5) << 20), size_t(5) << 20);
    EXPECT_EQ(cuda::CachingAllocator::bucket_size((size_t(5) << 20) + 1), size_t(6) << 20);
}

TEST_F(CudaOps, OutOfMemoryIsAClearError) {
    try {
        Tensor huge = gpu().empty({int64_t(1) << 48}, DType::F32);  // 1 PiB
        FAIL() << "allocated 1 PiB";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::OutOfMemory);
        const std::string msg = e.what();
        EXPECT_NE(msg.find("1125899906842624 bytes"), std::string::npos) << msg;
        EXPECT_NE(msg.find("MiB free"), std::string::npos) << msg;
    }
    // The failure leaves no sticky error behind: the next op works.
    Tensor a = up(Tensor::from_floats({2}, {1.0f, 2.0f}));
    Tensor out = gpu().empty({2}, DType::F32);
    gpu().add(out, a, a, 1.0f);
    EXPECT_EQ(down(out).to_floats(), (std::vector<float>{2.0f, 4.0f}));
}

TEST_F(CudaOps, SupportsAndDeviceInfo) {
    EXPECT_TRUE(gpu().supports(OpKind::Linear, DType::BF16));
    EXPECT_TRUE(gpu().supports(OpKind::Attention, DType::F16));
    EXPECT_FALSE(gpu().supports(OpKind::RmsNorm, DType::BF16));
    EXPECT_EQ(gpu().device(), Device::cuda(0));
    EXPECT_FALSE(cuda_device_name(0).empty());
    EXPECT_THROW(backend_for(Device::cuda(1000)), Error);
    // Front-ends allocate on the device and dispatch there.
    Rng rng(3);
    Tensor x = random_tensor({2, 64}, DType::F32, rng);
    Tensor w = random_tensor({64}, DType::BF16, rng);
    Tensor y = ops::rms_norm(up(x), up(w), 1e-6f);
    EXPECT_EQ(y.device(), Device::cuda(0));
    EXPECT_LT(rel(down(y).to_floats(), ops::rms_norm(x, w, 1e-6f).to_floats()), 1e-5);
    gpu().synchronize();
}

}  // namespace
}  // namespace ferris::testing
