// BERT / MPNet sentence embeddings against sentence-transformers on the same files: the fixture
// was computed by scripts/fixtures/encoder_reference.py on models that `ferris create-model`
// writes from a seed; the test writes the same models again and compares token ids (with
// truncation) and embeddings (mean, CLS and max pooling, packed batches), and checks that a
// text's vector does not depend on its batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "ferris/embedding_model.h"
#include "models/encoder/create.h"
#include "models/encoder/model.h"
#include "process_scratch.h"
#include "tolerances.h"

namespace ferris {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

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

const json& reference() {
    static const json ref = [] {
        const std::string path =
            std::string(FERRIS_FIXTURES_DIR) + "/encoder/encoder_reference.json";
        std::ifstream in(path);
        if (!in) throw std::runtime_error("missing fixture " + path);
        return json::parse(in);
    }();
    return ref;
}

// Writes (once per process) the model a fixture entry was computed on.
std::string model_for(const std::string& name, const json& spec) {
    const std::string dir = test_support::process_scratch_dir("ferris-encoder-" + name);
    if (!fs::exists(fs::path(dir) / "config.json")) {
        namespace enc = models::encoder;
        const enc::Arch arch = spec["arch"] == "bert" ? enc::Arch::Bert : enc::Arch::MPNet;
        enc::CreateOptions o;
        o.seed = spec["seed"];
        o.pooling = spec["pooling"];
        o.normalize = spec["normalize"];
        o.max_seq_length = spec["max_seq_length"];
        o.overwrite = true;
        enc::create_random_encoder(dir, enc::preset(arch, spec["preset"]), o);
    }
    return dir;
}

double cosine(const float* a, const std::vector<double>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        ab += a[i] * b[i];
        aa += double(a[i]) * a[i];
        bb += b[i] * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

class EncoderParity : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (std::string why; device_missing(&why)) GTEST_SKIP() << "no CUDA device: " << why;
        const json& m = reference()["models"].at(GetParam());
        dir_ = model_for(GetParam(), m["spec"]);
        const json& all = reference()["texts"];
        const size_t n = m["ids"].size();
        for (size_t i = 0; i < n; ++i) texts_.push_back(all[i]);
    }
    std::string dir_;
    std::vector<std::string> texts_;
};

TEST_P(EncoderParity, TokenIdsWithTruncationMatch) {
    const json& m = reference()["models"].at(GetParam());
    EmbeddingModel model = EmbeddingModel::from_dir(dir_, kDevice);
    EXPECT_EQ(model.max_length(), m["max_seq_length"].get<int64_t>());
    int truncated = 0;
    for (size_t i = 0; i < texts_.size(); ++i) {
        bool cut = false;
        EXPECT_EQ(model.tokenize(texts_[i], &cut), m["ids"][i].get<std::vector<int32_t>>())
            << "text " << i << ": " << texts_[i].substr(0, 60);
        truncated += cut;
    }
    if (texts_.size() == reference()["texts"].size()) {
        EXPECT_GE(truncated, 1);  // the fixture's long text exercises truncation
    }
}

// batch_tokens 0 is the device's default (16,384 tokens on the CPU, 32,768 on a GPU), the same
// vectors as that number given; a negative budget is an error.
TEST_P(EncoderParity, BatchTokensDefaultIsTheDevices) {
    EmbeddingOptions eo;
    eo.device = kDevice;
    eo.batch_tokens = -1;
    EXPECT_THROW(EmbeddingModel::from_dir(dir_, eo), Error);
    eo.batch_tokens = 0;
    const std::vector<float> by_default =
        EmbeddingModel::from_dir(dir_, eo).encode(texts_).to_floats();
    eo.batch_tokens = kDevice.is_cpu() ? 16384 : 32768;
    EXPECT_EQ(EmbeddingModel::from_dir(dir_, eo).encode(texts_).to_floats(), by_default);
}

// Texts are tokenized and batched a chunk at a time, each chunk's vectors coming back through
// one of two slots while the next computes: any chunk size gives each text its own vector (the
// batches differ, so within the batch-invariance tolerance), and progress reaches every text.
TEST_P(EncoderParity, ChunksOfAnySizeGiveTheSameVectors) {
    EmbeddingOptions eo;
    eo.device = kDevice;
    eo.chunk_texts = -1;
    EXPECT_THROW(EmbeddingModel::from_dir(dir_, eo), Error);
    eo.chunk_texts = 0;
    const Tensor whole = EmbeddingModel::from_dir(dir_, eo).encode(texts_);
    const int64_t D = whole.size(1);
    for (int64_t chunk : {int64_t(1), int64_t(3)}) {
        eo.chunk_texts = chunk;
        eo.batch_tokens = 64;  // several batches in a chunk of three
        EmbeddingModel model = EmbeddingModel::from_dir(dir_, eo);
        std::vector<int64_t> seen;
        EmbedStats stats;
        const Tensor v = model.encode(texts_, "", &stats, [&](int64_t done, int64_t total) {
            EXPECT_EQ(total, static_cast<int64_t>(texts_.size()));
            seen.push_back(done);
        });
        ASSERT_EQ(v.size(0), static_cast<int64_t>(texts_.size()));
        ASSERT_FALSE(seen.empty());
        EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
        EXPECT_EQ(seen.back(), static_cast<int64_t>(texts_.size()));
        EXPECT_EQ(seen.size(), (texts_.size() + chunk - 1) / chunk);
        for (size_t i = 0; i < texts_.size(); ++i) {
            double worst = 0, norm = 0;
            for (int64_t k = 0; k < D; ++k) {
                const float a = whole.data<float>()[i * D + k];
                norm += double(a) * a;
                worst = std::max(worst, double(std::abs(a - v.data<float>()[i * D + k])));
            }
            EXPECT_LE(worst, tolerances::kBatchInvariance * std::max(1.0, std::sqrt(norm)))
                << "chunk " << chunk << ", text " << i;
        }
    }
}

TEST_P(EncoderParity, EmbeddingsMatchSentenceTransformers) {
    const json& m = reference()["models"].at(GetParam());
    EmbeddingOptions eo;
    eo.device = kDevice;
    eo.batch_tokens = 256;  // several batches, several texts packed in each
    EmbeddingModel model = EmbeddingModel::from_dir(dir_, eo);
    EmbedStats stats;
    Tensor v = model.encode(texts_, "", &stats);
    ASSERT_EQ(v.size(0), static_cast<int64_t>(texts_.size()));
    EXPECT_LT(stats.batches, static_cast<int64_t>(texts_.size()));  // texts were packed together
    if (texts_.size() == reference()["texts"].size()) {
        EXPECT_GT(stats.batches, 1);
    }
    const int64_t D = v.size(1);
    for (size_t i = 0; i < texts_.size(); ++i) {
        const auto ref = m["embeddings"][i].get<std::vector<double>>();
        ASSERT_EQ(static_cast<int64_t>(ref.size()), D);
        const float* row = v.data<float>() + static_cast<int64_t>(i) * D;
        EXPECT_GE(cosine(row, ref), tolerances::kEmbeddingCosine) << "text " << i;
        double norm = 0, worst = 0;
        for (int64_t k = 0; k < D; ++k) {
            norm += ref[k] * ref[k];
            worst = std::max(worst, std::abs(row[k] - ref[k]));
        }
        EXPECT_LE(worst, tolerances::kEmbeddingRel * std::sqrt(norm)) << "text " << i;
    }
}

TEST_P(EncoderParity, VectorDoesNotDependOnBatch) {
    EmbeddingModel model = EmbeddingModel::from_dir(dir_, kDevice);
    Tensor together = model.encode(texts_);
    const int64_t D = together.size(1);
    for (size_t i = 0; i < texts_.size(); i += 7) {
        Tensor alone = model.encode({texts_[i]});
        double worst = 0, norm = 0;
        for (int64_t k = 0; k < D; ++k) {
            const float a = alone.data<float>()[k];
            norm += double(a) * a;
            worst = std::max(worst, double(std::abs(a - together.data<float>()[i * D + k])));
        }
        EXPECT_LE(worst, tolerances::kBatchInvariance * std::max(1.0, std::sqrt(norm)))
            << "text " << i;
    }
}

// bf16 / f16 matrices (the GPU's fast path; also the CPU's bf16 GEMM): cosine >= 0.999.
TEST_P(EncoderParity, HalfPrecisionStaysClose) {
    const json& m = reference()["models"].at(GetParam());
    for (DType dt : {DType::BF16, DType::F16}) {
        EmbeddingOptions eo;
        eo.device = kDevice;
        eo.dtype = dt;
        EmbeddingModel model = EmbeddingModel::from_dir(dir_, eo);
        Tensor v = model.encode(texts_);
        const int64_t D = v.size(1);
        for (size_t i = 0; i < texts_.size(); ++i)
            EXPECT_GE(cosine(v.data<float>() + static_cast<int64_t>(i) * D,
                             m["embeddings"][i].get<std::vector<double>>()),
                      tolerances::kHalfEmbeddingCosine)
                << dtype_name(dt) << " text " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(SentenceTransformers, EncoderParity,
                         ::testing::Values("bert_tiny_mean", "bert_tiny_cls", "bert_tiny_max",
                                           "mpnet_tiny_mean", "minilm_l6"));

TEST(EncoderParityBuckets, MpnetRelativePositionBucketsMatchTransformers) {
    const json& b = reference()["mpnet_buckets"];
    const int64_t from = b["from"];
    const auto buckets = b["buckets"].get<std::vector<int64_t>>();
    for (size_t i = 0; i < buckets.size(); ++i)
        EXPECT_EQ(models::encoder::EncoderModel::relative_position_bucket(
                      from + static_cast<int64_t>(i), b["num_buckets"], b["max_distance"]),
                  buckets[i])
            << "relative position " << from + static_cast<int64_t>(i);
}

}  // namespace
}  // namespace ferris
