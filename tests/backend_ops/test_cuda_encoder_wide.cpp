// Whole encoders at real widths (hidden 512 and 768, FFN 2,048 and 3,072: on sm_90 the GELU in
// the up-projection's epilogue, gemm_sm90a.h; cuBLASLt products of several tiles; packed
// attention of sequences up to ~300 tokens in batches of several), two layers of random weights:
// f16 and bf16 embeddings on the GPU against the CPU's f32 ones. The tiny parity models are too
// narrow for those kernels' tiles. Label `cuda`: skips itself without a CUDA device.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda_harness.h"
#include "ferris/embedding_model.h"
#include "models/encoder/config.h"
#include "models/encoder/create.h"
#include "process_scratch.h"
#include "tolerances.h"

namespace ferris::testing {
namespace {

namespace fs = std::filesystem;
namespace enc = models::encoder;
using CudaEncoderWide = CudaTest;

double cosine(const float* a, const float* b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; ++i) {
        ab += double(a[i]) * b[i];
        aa += double(a[i]) * a[i];
        bb += double(b[i]) * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

// Texts of 1 to ~300 tokens, so that batches hold partial row tiles and several of them.
std::vector<std::string> texts() {
    std::vector<std::string> t = {"", "a", "How do I fine-tune a model with LoRA?",
                                  "Tokenizers split text into word pieces; rare words fall apart."};
    std::string longer;
    for (int i = 0; i < 60; ++i)
        longer += "retrieval augmented generation number " + std::to_string(i) +
                  (i % 7 == 0 ? ". " : ", ");
    t.push_back(longer);
    for (int i = 0; i < 40; ++i)
        t.push_back(longer.substr(0, static_cast<size_t>(17 * i + 5)) + " #" + std::to_string(i));
    return t;
}

void check_against_cpu(enc::Arch arch, const std::string& preset, int64_t hidden) {
    enc::EncoderConfig c = enc::preset(arch, preset);
    c.num_hidden_layers = 2;
    c.hidden_size = hidden;
    c.num_attention_heads = hidden / 64;
    c.head_dim = 64;
    c.intermediate_size = 4 * hidden;
    const std::string dir = test_support::process_scratch_dir("ferris-wide-" + preset);
    enc::CreateOptions o;
    o.seed = 7;
    o.overwrite = true;
    enc::create_random_encoder(dir, c, o);
    const std::vector<std::string> t = texts();
    const Tensor want = EmbeddingModel::from_dir(dir, Device::cpu()).encode(t);
    const int64_t D = want.size(1);
    for (DType dt : {DType::F16, DType::BF16}) {
        EmbeddingOptions eo;
        eo.device = Device::cuda(0);
        eo.dtype = dt;
        eo.batch_tokens = 1024;  // several batches of several row tiles
        const Tensor got = EmbeddingModel::from_dir(dir, eo).encode(t);
        ASSERT_EQ(got.size(1), D);
        for (size_t i = 0; i < t.size(); ++i) {
            const int64_t off = static_cast<int64_t>(i) * D;
            EXPECT_GE(cosine(got.data<float>() + off, want.data<float>() + off, D),
                      tolerances::kHalfEmbeddingCosine)
                << preset << " hidden " << hidden << " " << dtype_name(dt) << " text " << i;
        }
    }
    fs::remove_all(dir);
}

TEST_F(CudaEncoderWide, MpnetHidden768MatchesCpu) {
    check_against_cpu(enc::Arch::MPNet, "all-mpnet-base-v2", 768);
}

TEST_F(CudaEncoderWide, BertHidden512MatchesCpu) {
    check_against_cpu(enc::Arch::Bert, "e5-small-v2", 512);
}

}  // namespace
}  // namespace ferris::testing
