// Qwen2 parity with Hugging Face transformers/peft on the same files: the fixtures were computed
// by scripts/fixtures/qwen2_reference.py on models that `ferris create-model` writes from a seed;
// the test writes the same models again and compares logits (every position), greedy
// continuations and perplexity, with and without a PEFT LoRA adapter.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "ferris/tokenizer.h"
#include "io/files.h"
#include "models/qwen2/create.h"
#include "models/qwen2/model.h"
#include "ops/ops.h"
#include "process_scratch.h"
#include "runtime/generate.h"
#include "runtime/perplexity.h"
#include "tolerances.h"
#include "train/peft_adapter.h"

namespace ferris {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFixtures = std::string(FERRIS_FIXTURES_DIR) + "/qwen2";
// The same tests run on the GPU in ferris_cuda_tests (compiled with FERRIS_TEST_CUDA).
#ifdef FERRIS_TEST_CUDA
const Device kDevice = Device::cuda(0);
#else
const Device kDevice = Device::cpu();
#endif

// The GPU build of these tests skips where no card is present.
bool device_missing(std::string* reason) {
    return !kDevice.is_cpu() && cuda_device_count(reason) == 0;
}

json load_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("missing fixture " + path);
    return json::parse(in);
}

// Writes (once per process) the model a fixture was computed on.
std::string model_for(const json& manifest_entry) {
    const std::string name = manifest_entry["name"];
    const std::string dir = test_support::process_scratch_dir("ferris-parity-" + name);
    if (!fs::exists(dir / fs::path("config.json"))) {
        auto c = models::qwen2::preset(manifest_entry["preset"]);
        models::qwen2::CreateOptions o;
        o.seed = manifest_entry["seed"];
        o.shards = manifest_entry.value("shards", 1);
        o.transformers5_layout = manifest_entry.value("config_layout", 4) == 5;
        o.overwrite = true;
        models::qwen2::create_random_model(dir, c, o);
    }
    return dir;
}

struct Case {
    std::string model;    // entry in models.json
    std::string fixture;  // file name without .json
    bool adapter;
};

class Qwen2Parity : public ::testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        if (std::string why; device_missing(&why)) GTEST_SKIP() << "no CUDA device: " << why;
        const Case c = GetParam();
        json models = load_json(kFixtures + "/models.json");
        dir_ = model_for(models.at(c.model));
        ref_ = load_json(kFixtures + "/" + c.fixture + ".json");
        models::qwen2::LoadOptions lo;
        lo.dtype = DType::F32;  // HF computed in float32 on the bf16 checkpoint
        lo.device = kDevice;
        model_ = models::qwen2::Qwen2Model::load(dir_, lo);
        if (c.adapter)
            train::attach_adapter(*model_, train::PeftAdapter::load(kFixtures + "/" + c.fixture));
        tokenizer_ = Tokenizer::from_file(dir_);
    }
    std::string dir_;
    json ref_;
    std::unique_ptr<models::qwen2::Qwen2Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(Qwen2Parity, LogitsAtEveryPosition) {
    const std::vector<int64_t> probes = ref_["probe_ids"];
    for (const json& p : ref_["prompts"]) {
        const std::vector<int32_t> ids = p["ids"];
        EXPECT_EQ(tokenizer_->encode(p["text"].get<std::string>()), ids) << p["text"];
        nn::KvCache cache = model_->new_cache(static_cast<int64_t>(ids.size()), DType::F32);
        const int64_t V = model_->config().vocab_size;
        std::vector<float> logits =
            ops::to_host_floats(model_->logits(model_->forward_hidden(ids, cache)));
        ASSERT_EQ(logits.size(), ids.size() * V);
        for (size_t t = 0; t < ids.size(); ++t) {
            const json& row = p["rows"][t];
            const float* l = logits.data() + t * V;
            double lmax = 0, sum = 0, sumsq = 0, mx = -1e30;
            for (int64_t i = 0; i < V; ++i) {
                lmax = std::max(lmax, std::abs(double(l[i])));
                mx = std::max(mx, double(l[i]));
                sum += l[i];
                sumsq += double(l[i]) * l[i];
            }
            double se = 0;
            for (int64_t i = 0; i < V; ++i) se += std::exp(double(l[i]) - mx);
            const double lse = std::log(se) + mx, tol = tolerances::kF32LogitsRel * lmax;
            EXPECT_NEAR(lse, row["logsumexp"].get<double>(), tol) << "position " << t;
            EXPECT_NEAR(sumsq, row["sumsq"].get<double>(), tolerances::kF32LogitsRel * sumsq);
            EXPECT_NEAR(sum / V, row["sum"].get<double>() / V, tol);
            for (size_t k = 0; k < probes.size(); ++k)
                EXPECT_NEAR(l[probes[k]], row["probe_values"][k].get<double>(), tol)
                    << "position " << t << " id " << probes[k];
            for (size_t k = 0; k < row["top_ids"].size(); ++k)
                EXPECT_NEAR(l[row["top_ids"][k].get<int64_t>()], row["top_values"][k].get<double>(),
                            tol);
            EXPECT_EQ(std::max_element(l, l + V) - l, row["top_ids"][0].get<int64_t>());
        }
    }
}

TEST_P(Qwen2Parity, GreedyContinuationsIdentical) {
    for (const json& p : ref_["prompts"]) {
        runtime::GenerateOptions g;
        g.sampling.temperature = 0.0f;
        g.max_tokens = static_cast<int>(p["greedy"].size());
        g.ignore_eos = true;
        runtime::GenerateResult r = runtime::generate(*model_, *tokenizer_, p["ids"], g);
        EXPECT_EQ(r.ids, p["greedy"].get<std::vector<int32_t>>()) << p["text"];
    }
}

TEST_P(Qwen2Parity, Perplexity) {
    const json& p = ref_["perplexity"];
    const std::vector<int32_t> ids = tokenizer_->encode(p["text"].get<std::string>());
    EXPECT_EQ(ids, p["ids"].get<std::vector<int32_t>>());
    runtime::PerplexityResult r = runtime::perplexity(*model_, ids);
    EXPECT_EQ(r.n_tokens, p["n_tokens"].get<int64_t>());
    EXPECT_NEAR(r.nll, p["nll"].get<double>(), tolerances::kF32LogitsRel * p["nll"].get<double>());
    EXPECT_NEAR(r.ppl, p["ppl"].get<double>(),
                2 * tolerances::kF32LogitsRel * p["ppl"].get<double>());
}

// The bf16 path: weights in their checkpoint dtype (on the GPU: tensor-core prefill, the fused
// decode GEMVs, rope in the q/k/v product, GQA decode attention, the device stepper). Logits at
// each prompt's last position within kBf16Rel of the row's largest |logit|; the greedy
// continuation equal to transformers' float32 one up to the first step whose top-1/top-2 margin
// is inside the bf16 error (kBf16GreedyMargin), where it may take the other token.
TEST_P(Qwen2Parity, Bf16LogitsAndGreedyWithinMargins) {
    models::qwen2::LoadOptions lo;
    lo.dtype = DType::BF16;
    lo.device = kDevice;
    auto model = models::qwen2::Qwen2Model::load(dir_, lo);
    if (GetParam().adapter)
        train::attach_adapter(*model,
                              train::PeftAdapter::load(kFixtures + "/" + GetParam().fixture));
    const int64_t V = model->config().vocab_size;
    for (const json& p : ref_["prompts"]) {
        const std::vector<int32_t> ids = p["ids"];
        nn::KvCache cache = model->new_cache(static_cast<int64_t>(ids.size()), DType::BF16);
        const std::vector<float> logits =
            ops::to_host_floats(model->logits(model->forward_hidden(ids, cache)));
        const float* l = logits.data() + (ids.size() - 1) * V;
        const json& row = p["rows"][ids.size() - 1];
        double lmax = 0;
        for (int64_t i = 0; i < V; ++i) lmax = std::max(lmax, std::abs(double(l[i])));
        for (size_t k = 0; k < row["top_ids"].size(); ++k)
            EXPECT_NEAR(l[row["top_ids"][k].get<int64_t>()], row["top_values"][k].get<double>(),
                        tolerances::kBf16Rel * lmax)
                << p["text"] << " top " << k;

        runtime::GenerateOptions g;
        g.sampling.temperature = 0.0f;
        g.max_tokens = static_cast<int>(p["greedy"].size());
        g.ignore_eos = true;
        const runtime::GenerateResult r = runtime::generate(*model, *tokenizer_, ids, g);
        const std::vector<int32_t> want = p["greedy"];
        const std::vector<double> margins = p["greedy_margins"];
        ASSERT_EQ(r.ids.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) {
            if (r.ids[i] == want[i]) continue;
            EXPECT_LT(margins[i], tolerances::kBf16GreedyMargin)
                << p["text"] << ": step " << i << " took " << r.ids[i] << " for " << want[i];
            break;  // the continuations part here; what follows is another text
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Hf, Qwen2Parity,
                         ::testing::Values(Case{"tiny", "tiny", false},
                                           Case{"tiny", "tiny_adapter", true},
                                           Case{"tiny_untied", "tiny_untied", false},
                                           Case{"tiny_untied", "tiny_untied_adapter", true}),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.fixture; });

}  // namespace
}  // namespace ferris
