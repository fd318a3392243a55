// generate() decodes through DeviceStepper (the `sample` op on the model's device, each step
// recorded once). On the CPU it must give exactly the host path's tokens for a seed: per token
// forward_last, the logits on the host and runtime::Sampler::sample, as generate ran before.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ferris/error.h"
#include "ferris/tokenizer.h"
#include "models/qwen2/create.h"
#include "models/qwen2/model.h"
#include "ops/ops.h"
#include "runtime/device_stepper.h"
#include "runtime/generate.h"

namespace ferris::runtime {
namespace {

namespace fs = std::filesystem;

class DeviceStepperTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ =
            (fs::temp_directory_path() / ("ferris-stepper-" + std::to_string(::getpid()))).string();
        models::qwen2::CreateOptions o;
        o.seed = 21;
        o.overwrite = true;
        models::qwen2::create_random_model(dir_, models::qwen2::preset("tiny"), o);
        model_ = models::qwen2::Qwen2Model::load(dir_, {}).release();
        tokenizer_ = Tokenizer::from_file(dir_).release();
    }
    static void TearDownTestSuite() {
        delete model_;
        delete tokenizer_;
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // The host path: forward_last per token, logits to the host, Sampler::sample.
    static std::vector<int32_t> host_path(const std::vector<int32_t>& prompt,
                                          const SamplingParams& params, int n) {
        nn::KvCache cache = model_->new_cache(static_cast<int64_t>(prompt.size()) + n, DType::F32);
        Sampler sampler(params);
        std::vector<int32_t> history = prompt, step = prompt, ids;
        for (int i = 0; i < n; ++i) {
            std::vector<float> logits = ops::to_host_floats(model_->forward_last(step, cache));
            const int32_t next = sampler.sample(logits, history);
            ids.push_back(next);
            history.push_back(next);
            step.assign(1, next);
        }
        return ids;
    }

    static inline std::string dir_;
    static inline models::qwen2::Qwen2Model* model_ = nullptr;
    static inline Tokenizer* tokenizer_ = nullptr;
};

SamplingParams sampling(float temperature, int top_k, float top_p, float min_p, float penalty,
                        uint64_t seed) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repetition_penalty = penalty;
    p.seed = seed;
    return p;
}

TEST_F(DeviceStepperTest, GenerateEqualsTheHostSamplerPath) {
    const std::vector<int32_t> prompt = tokenizer_->encode("The quick brown fox jumps over");
    ASSERT_FALSE(prompt.empty());
    const int n = 24;
    for (const SamplingParams& p : {
             sampling(0.8f, 40, 0.95f, 0.05f, 1.1f, 7),  // the CLI's defaults, with a penalty
             sampling(1.3f, 0, 1.0f, 0.0f, 1.0f, 3),     // plain sampling, no filter
             sampling(1.0f, 0, 0.6f, 0.0f, 1.0f, 4),     // top-p alone
             sampling(0.0f, 0, 1.0f, 0.0f, 1.5f, 0),     // greedy with a penalty (the op)
             sampling(0.0f, 0, 1.0f, 0.0f, 1.0f, 0),     // plain greedy (argmax)
         }) {
        GenerateOptions g;
        g.sampling = p;
        g.max_tokens = n;
        g.ignore_eos = true;
        const GenerateResult r = generate(*model_, *tokenizer_, prompt, g);
        EXPECT_EQ(r.ids, host_path(prompt, p, n))
            << "T " << p.temperature << ", k " << p.top_k << ", p " << p.top_p << ", min_p "
            << p.min_p << ", penalty " << p.repetition_penalty << ", seed " << p.seed;
    }
}

TEST_F(DeviceStepperTest, SeedsGiveDifferentSamples) {
    const std::vector<int32_t> prompt = tokenizer_->encode("hello");
    GenerateOptions g;
    g.sampling = sampling(1.3f, 0, 1.0f, 0.0f, 1.0f, 1);
    g.max_tokens = 12;
    g.ignore_eos = true;
    const std::vector<int32_t> a = generate(*model_, *tokenizer_, prompt, g).ids;
    EXPECT_EQ(generate(*model_, *tokenizer_, prompt, g).ids, a);
    g.sampling.seed = 2;
    EXPECT_NE(generate(*model_, *tokenizer_, prompt, g).ids, a);
}

TEST_F(DeviceStepperTest, StepperStepsAfterPrefillAndRefusesAFullCache) {
    const std::vector<int32_t> prompt = {1, 2, 3};
    nn::KvCache cache = model_->new_cache(5, DType::F32);
    DeviceStepper stepper(*model_, cache, sampling(0.0f, 0, 1.0f, 0.0f, 1.0f, 0), prompt);
    const int32_t first = stepper.prefill(prompt);
    EXPECT_EQ(first, host_path(prompt, sampling(0.0f, 0, 1.0f, 0.0f, 1.0f, 0), 1)[0]);
    stepper.step();
    stepper.step(first);  // an explicit token works too
    EXPECT_EQ(cache.length(), 5);
    EXPECT_THROW(stepper.step(), Error);
}

// Run ahead (forced on here; the default on a GPU): each step() queues the next step before it
// returns. Feeding a token of one's own drops that step: its uniform draw and its seen mark are
// undone and its cache row written again. Fed the very token the dropped step was fed, the
// stepper must give the host sampler's tokens (a strong penalty: a mark left behind shows).
TEST_F(DeviceStepperTest, AStepQueuedAheadIsDroppedWithoutATrace) {
    const std::vector<int32_t> prompt = tokenizer_->encode("The quick brown fox");
    const SamplingParams params = sampling(0.9f, 0, 1.0f, 0.0f, 3.0f, 11);
    nn::KvCache cache = model_->new_cache(static_cast<int64_t>(prompt.size()) + 6, DType::F32);
    std::vector<int32_t> got;
    {
        DeviceStepper stepper(*model_, cache, params, prompt);
        stepper.set_run_ahead(true);
        got.push_back(stepper.prefill(prompt));
        got.push_back(stepper.step());  // and queues the step fed with got[1]
        got.push_back(stepper.step(got[1]));
        got.push_back(stepper.step());
        got.push_back(stepper.step());
    }
    EXPECT_EQ(got, host_path(prompt, params, 5));
    EXPECT_EQ(cache.length(), static_cast<int64_t>(prompt.size()) + 4);
}

}  // namespace
}  // namespace ferris::runtime
