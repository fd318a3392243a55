// decoder_layers on the GPU (the persistent decode kernel) against the same op composed of the
// plain ops: on the GPU (FERRIS_CUDA_NO_PERSISTENT=1; the same roundings, only the summation order
// differs) and on the CPU (f32 x, so bf16/f16 rounding of x makes the difference). Random layers
// with caches already holding `keys - 1` random past rows; the new row goes to keys - 1. x lies
// between guard values that must survive, and every cache row but the new one must be unchanged.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "cuda_harness.h"

namespace ferris::testing {
namespace {

struct DecoderCase {
    DType weights, cache;
    int64_t c, inter, nh, nkv, hs, layers, capacity, keys;
    bool bias;
};

std::string name_of(const DecoderCase& k) {
    return std::string(dtype_name(k.weights)) + " cache " + dtype_name(k.cache) + " C " +
           std::to_string(k.c) + " hs " + std::to_string(k.hs) + " keys " + std::to_string(k.keys);
}

struct Stack {
    std::vector<DecoderLayer> layers;
    DecoderStep step;
};

// The case's layers with fixed random values (seeded by the case), on `device`.
Stack make_stack(const DecoderCase& k, Device device) {
    Rng rng(k.c * 7 + k.keys * 13 + k.hs + (k.weights == DType::BF16 ? 1 : 2));
    auto on = [&](const Tensor& t) { return ops::to_device(t, device); };
    Stack s;
    const int64_t qkv = (k.nh + 2 * k.nkv) * k.hs;
    const float wr = 1.0f / std::sqrt(static_cast<float>(k.c));
    for (int64_t l = 0; l < k.layers; ++l) {
        DecoderLayer d;
        d.attn_norm = on(random_tensor({k.c}, DType::F32, rng, 0.5f, 1.5f));
        d.qkv = on(random_tensor({qkv, k.c}, k.weights, rng, -2 * wr, 2 * wr));
        if (k.bias) d.qkv_bias = on(random_tensor({qkv}, DType::F32, rng, -0.5f, 0.5f));
        d.o = on(random_tensor({k.c, k.nh * k.hs}, k.weights, rng, -wr, wr));
        d.mlp_norm = on(random_tensor({k.c}, DType::F32, rng, 0.5f, 1.5f));
        d.gate = on(random_tensor({k.inter, k.c}, k.weights, rng, -wr, wr));
        d.up = on(random_tensor({k.inter, k.c}, k.weights, rng, -wr, wr));
        d.down = on(random_tensor({k.c, k.inter}, k.weights, rng, -wr, wr));
        d.k_cache = on(random_tensor({1, k.capacity, k.nkv, k.hs}, k.cache, rng, -2, 2));
        d.v_cache = on(random_tensor({1, k.capacity, k.nkv, k.hs}, k.cache, rng, -2, 2));
        s.layers.push_back(d);
    }
    s.step.heads = k.nh;
    s.step.eps = 1e-6f;
    s.step.theta = 1000000.0f;
    s.step.scale = 1.0f / std::sqrt(static_cast<float>(k.hs));
    s.step.position = on(Tensor::from_ints({1}, {static_cast<int32_t>(k.keys - 1)}));
    s.step.key_count = on(Tensor::from_ints({1}, {static_cast<int32_t>(k.keys)}));
    return s;
}

Tensor start_x(const DecoderCase& k) {
    Rng rng(k.c + 5);
    return random_tensor({1, k.c}, DType::F32, rng, -1, 1);
}

// x after the layers, run on the GPU: the persistent kernel or (composed) the plain ops. x sits
// between kGuard words, which are checked.
Tensor run_gpu(const DecoderCase& k, bool composed, std::vector<Tensor>* caches) {
    constexpr int64_t kPad = 64;
    constexpr float kGuard = 12345.0f;
    std::vector<float> host(static_cast<size_t>(k.c + 2 * kPad), kGuard);
    const Tensor x0 = start_x(k);
    std::copy(x0.data<float>(), x0.data<float>() + k.c, host.begin() + kPad);
    Tensor buffer = up(Tensor::from_floats({k.c + 2 * kPad}, host));
    Tensor x(buffer.storage(), kPad * sizeof(float), {1, k.c}, contiguous_strides({1, k.c}),
             DType::F32);
    Stack s = make_stack(k, Device::cuda(0));
    if (composed) setenv("FERRIS_CUDA_NO_PERSISTENT", "1", 1);
    ops::decoder_layers_(x, s.layers, s.step);
    if (composed) unsetenv("FERRIS_CUDA_NO_PERSISTENT");
    const std::vector<float> all = down(buffer).to_floats();
    for (int64_t i = 0; i < kPad; ++i) {
        EXPECT_EQ(all[static_cast<size_t>(i)], kGuard) << name_of(k) << " guard before";
        EXPECT_EQ(all[static_cast<size_t>(kPad + k.c + i)], kGuard) << name_of(k) << " guard after";
    }
    for (const DecoderLayer& d : s.layers) {
        caches->push_back(down(d.k_cache));
        caches->push_back(down(d.v_cache));
    }
    return down(x);
}

double rel(const Tensor& got, const Tensor& want) {
    const std::vector<float> w = want.to_floats();
    return relative_error(got.to_floats(), std::vector<double>(w.begin(), w.end()));
}

class CudaDecoder : public CudaTest {};

TEST_F(CudaDecoder, PersistentKernelMatchesComposedOps) {
    const std::vector<DecoderCase> cases = {
        // GQA 7:1 as Qwen2.5-0.5B (smaller), one key, a few, several splits, many splits
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 3, 2200, 1, true},
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 3, 2200, 37, true},
        // tiles of 16 keys cut short (2, 17), one split of 255 keys, two of 150 each
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 1, 2200, 2, true},
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 1, 2200, 17, true},
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 1, 2200, 255, true},
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 1, 2200, 300, true},
        {DType::BF16, DType::F32, 128, 352, 14, 2, 64, 3, 2200, 700, true},
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 2, 2200, 2100, true},
        // more keys than one staging round of a split holds (tensor-core attention: 2 rounds)
        {DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 1, 13100, 13000, true},
        // four kv groups of two heads, 4 splits each
        {DType::BF16, DType::BF16, 256, 512, 8, 4, 64, 2, 700, 600, true},
        // f16, head size 128, no bias, few heads (many splits a head), uneven row shares
        {DType::F16, DType::F16, 264, 200, 2, 1, 128, 2, 600, 513, false},
        {DType::F16, DType::F32, 1032, 2056, 4, 2, 64, 2, 96, 5, true},
    };
    for (const DecoderCase& k : cases) {
        std::vector<Tensor> fused_caches, composed_caches, cpu_caches;
        const Tensor fused = run_gpu(k, false, &fused_caches);
        const Tensor composed = run_gpu(k, true, &composed_caches);
        EXPECT_LT(rel(fused, composed), 2e-4) << name_of(k) << " x, against the GPU ops";

        Tensor x = start_x(k);
        Stack s = make_stack(k, Device::cpu());
        ops::decoder_layers_(x, s.layers, s.step);
        EXPECT_LT(rel(fused, x), 3e-2) << name_of(k) << " x, against the CPU";

        // Caches: the rows before the new one untouched, the new one as the composed ops wrote it
        // (bf16 caches may differ in the last bit where the summation order moved a rounding).
        const double cache_tol = k.cache == DType::F32 ? 2e-4 : 1e-2;
        for (size_t i = 0; i < fused_caches.size(); ++i) {
            const std::vector<float> a = fused_caches[i].to_floats();
            const std::vector<float> b = composed_caches[i].to_floats();
            const size_t row = static_cast<size_t>(k.nkv * k.hs);
            const size_t last = static_cast<size_t>(k.keys - 1) * row;
            double worst = 0, scale = 1e-30;
            for (size_t j = 0; j < a.size(); ++j) {
                if (j < last || j >= last + row) {
                    ASSERT_EQ(a[j], b[j]) << name_of(k) << " cache " << i << " element " << j;
                } else {
                    worst = std::max(worst, static_cast<double>(std::abs(a[j] - b[j])));
                    scale = std::max(scale, static_cast<double>(std::abs(b[j])));
                }
            }
            EXPECT_LT(worst / scale, cache_tol) << name_of(k) << " cache " << i << " new row";
        }
    }
}

// Shapes the kernel does not take (f32 weights, head size 32) still give the composition's answer.
TEST_F(CudaDecoder, ShapesOutsideTheKernelFallBackToTheOps) {
    for (const DecoderCase& k :
         {DecoderCase{DType::F32, DType::F32, 64, 96, 4, 2, 64, 2, 40, 9, true},
          DecoderCase{DType::BF16, DType::BF16, 64, 96, 4, 2, 32, 2, 40, 9, true}}) {
        std::vector<Tensor> caches;
        const Tensor got = run_gpu(k, false, &caches);
        Tensor x = start_x(k);
        Stack s = make_stack(k, Device::cpu());
        ops::decoder_layers_(x, s.layers, s.step);
        EXPECT_LT(rel(got, x), k.weights == DType::F32 ? 1e-4 : 3e-2) << name_of(k);
    }
}

// decoder_greedy_step on the GPU (the persistent kernel from the embedding to the argmax) against
// the same op composed of the plain GPU ops (FERRIS_CUDA_NO_PERSISTENT=1). The layers' x within
// the summation order's error; the kernel's logits as the plain ops compute them from the kernel's
// own x (only the order of the LM head's sums differs: from the composed x, a last-bit difference
// can move the bf16 rounding of a normalized element); each token the argmax of its own logits.
// An odd vocabulary (the LM head's rows go in groups) and tied weights (the LM head is the
// embedding table itself).
TEST_F(CudaDecoder, GreedyStepMatchesComposedOps) {
    struct Case {
        DecoderCase k;
        int64_t vocab;
        bool tied;
        int32_t token;
    };
    const std::vector<Case> cases = {
        {{DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 3, 2200, 37, true}, 1001, false, 17},
        {{DType::F16, DType::F16, 264, 200, 2, 1, 128, 2, 600, 5, false}, 778, true, 777},
        {{DType::BF16, DType::F32, 1032, 2056, 4, 2, 64, 2, 96, 1, true}, 4099, false, 0},
        {{DType::BF16, DType::BF16, 896, 4864, 14, 2, 64, 2, 300, 200, true}, 151936, true, 151935},
        // two key splits (the combine phase) in a step that starts from the embedding row
        {{DType::BF16, DType::BF16, 128, 352, 14, 2, 64, 2, 400, 300, true}, 1001, false, 5},
    };
    for (const Case& t : cases) {
        const DecoderCase& k = t.k;
        Rng rng(t.vocab);
        const float wr = 1.0f / std::sqrt(static_cast<float>(k.c));
        DecoderHead head;
        head.embed = up(random_tensor({t.vocab, k.c}, k.weights, rng, -1, 1));
        head.final_norm = up(random_tensor({k.c}, DType::F32, rng, 0.5f, 1.5f));
        head.lm_head =
            t.tied ? head.embed : up(random_tensor({t.vocab, k.c}, k.weights, rng, -wr, wr));
        Tensor tokens[2], logits[2], xs[2];
        Stack stacks[2];
        for (int composed = 0; composed < 2; ++composed) {
            stacks[composed] = make_stack(k, Device::cuda(0));
            tokens[composed] = up(Tensor::from_ints({1}, {t.token}));
            Tensor x = up(Tensor::zeros({1, k.c}, DType::F32));
            if (composed) setenv("FERRIS_CUDA_NO_PERSISTENT", "1", 1);
            logits[composed] = ops::decoder_greedy_step_(
                tokens[composed], x, head, stacks[composed].layers, stacks[composed].step);
            if (composed) unsetenv("FERRIS_CUDA_NO_PERSISTENT");
            xs[composed] = x;
        }
        const std::string what = name_of(k) + " vocab " + std::to_string(t.vocab);
        {  // again: the scratch the first launch left clean, reused with no memset, same answer
            Stack again = make_stack(k, Device::cuda(0));
            Tensor token = up(Tensor::from_ints({1}, {t.token}));
            Tensor x = up(Tensor::zeros({1, k.c}, DType::F32));
            const Tensor l = ops::decoder_greedy_step_(token, x, head, again.layers, again.step);
            EXPECT_EQ(down(l).to_floats(), down(logits[0]).to_floats()) << what << " again";
            EXPECT_EQ(down(token).data<int32_t>()[0], down(tokens[0]).data<int32_t>()[0]) << what;
        }
        // 5e-4, not the layers test's 2e-4: the step starts from an embedding row of +-1, and
        // 1001 rows of it measured 2.2e-4 (H100).
        EXPECT_LT(rel(down(xs[0]), down(xs[1])), 5e-4) << what << " x after the layers";
        // The kernel ran rather than the fallback: its summation order moves some last bits.
        EXPECT_NE(down(xs[0]).to_floats(), down(xs[1]).to_floats())
            << what << " (the same path twice?)";
        const Tensor head_of_own_x =
            ops::rms_norm_linear(xs[0], head.final_norm, stacks[0].step.eps, head.lm_head);
        EXPECT_LT(rel(down(logits[0]), down(head_of_own_x)), 2e-5) << what << " LM head";
        EXPECT_LT(rel(down(logits[0]), down(logits[1])), 3e-3) << what << " logits";
        // Each path's token is the first index of the largest of its own logits.
        for (int composed = 0; composed < 2; ++composed) {
            const std::vector<float> l = down(logits[composed]).to_floats();
            const auto best = std::max_element(l.begin(), l.end()) - l.begin();
            EXPECT_EQ(down(tokens[composed]).data<int32_t>()[0], static_cast<int32_t>(best))
                << what << (composed ? " composed" : " kernel") << " argmax";
        }
    }
}

}  // namespace
}  // namespace ferris::testing
