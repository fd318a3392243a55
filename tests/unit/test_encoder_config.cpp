// Encoder configuration and sentence-transformers files: what is read, what is rejected (by
// name), and UTF-8 repair as Python's errors="replace" does it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ferris/error.h"
#include "models/encoder/config.h"
#include "runtime/sentence_config.h"
#include "tokenizers/pipeline.h"

namespace ferris {
namespace {

using models::encoder::Arch;
using models::encoder::EncoderConfig;
namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(EncoderConfig, ReadsBertAndMpnetWithTheirDefaults) {
    const auto bert = EncoderConfig::from_json_text(
        R"({"model_type":"bert","vocab_size":30522,"hidden_size":384,"intermediate_size":1536,
            "num_hidden_layers":12,"num_attention_heads":12})",
        "c.json");
    EXPECT_EQ(bert.arch, Arch::Bert);
    EXPECT_EQ(bert.head_dim, 32);
    EXPECT_EQ(bert.max_tokens(), 512);
    EXPECT_DOUBLE_EQ(bert.layer_norm_eps, 1e-12);
    const auto mpnet = EncoderConfig::from_json_text(
        R"({"model_type":"mpnet","vocab_size":30527,"hidden_size":768,"intermediate_size":3072,
            "num_hidden_layers":12,"num_attention_heads":12,"max_position_embeddings":514,
            "pad_token_id":1,"layer_norm_eps":1e-5})",
        "c.json");
    EXPECT_EQ(mpnet.arch, Arch::MPNet);
    EXPECT_EQ(mpnet.max_tokens(), 512);  // positions start after the padding index
    EXPECT_EQ(mpnet.relative_attention_num_buckets, 32);
    // Round trip through what create-model writes.
    const auto again = EncoderConfig::from_json_text(mpnet.to_json_text(), "again");
    EXPECT_EQ(again.max_position_embeddings, 514);
    EXPECT_EQ(again.parameter_count(), mpnet.parameter_count());
}

TEST(EncoderConfig, PresetsHaveTheRealShapes) {
    // The Hub's counts (33,360,000 / 22,713,216 / 109,486,464) include the unused pooler
    // (C*C + C), which Ferris neither writes nor loads.
    auto count = [](Arch a, const char* name) {
        return models::encoder::preset(a, name).parameter_count();
    };
    EXPECT_EQ(count(Arch::Bert, "e5-small-v2"), 33360000 - 384 * 385);
    EXPECT_EQ(count(Arch::Bert, "all-minilm-l6-v2"), 22713216 - 384 * 385);
    EXPECT_EQ(count(Arch::MPNet, "all-mpnet-base-v2"), 109486464 - 768 * 769);
    EXPECT_NE(error_of([] {
                  models::encoder::preset(Arch::MPNet, "e5-small-v2");
              }).find("unknown mpnet preset"),
              std::string::npos);
}

TEST(EncoderConfig, UnimplementedOptionsAreNamed) {
    const std::string base =
        R"("vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2)";
    auto err = [&](const std::string& extra) {
        return error_of([&] { EncoderConfig::from_json_text("{" + base + extra + "}", "c.json"); });
    };
    EXPECT_NE(
        err(R"(,"model_type":"roberta")").find("'roberta' is not a supported sentence encoder"),
        std::string::npos);
    EXPECT_NE(err(R"(,"model_type":"bert","hidden_act":"gelu_new")").find("hidden_act 'gelu_new'"),
              std::string::npos);
    EXPECT_NE(err(R"(,"model_type":"bert","position_embedding_type":"relative_key")")
                  .find("relative_key"),
              std::string::npos);
    EXPECT_NE(err(R"(,"model_type":"bert","num_attention_heads":3)").find("not divisible"),
              std::string::npos);
    EXPECT_NE(err(R"(,"model_type":"bert","vocab_size":"many")")
                  .find("\"vocab_size\" must be an integer"),
              std::string::npos);
    EXPECT_NE(err(R"(,"model_type":"bert","pad_token_id":10)").find("pad_token_id"),
              std::string::npos);
}

class SentenceFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("ferris-st-" + std::to_string(::getpid()));
        fs::create_directories(dir_ / "1_Pooling");
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name) << text;
    }
    fs::path dir_;
};

TEST_F(SentenceFiles, NoFilesMeansNothingIsSaid) {
    const auto sc = runtime::read_sentence_config(dir_.string());
    EXPECT_FALSE(sc.pooling || sc.normalize || sc.max_seq_length);
}

TEST_F(SentenceFiles, ReadsPoolingNormalizeAndLength) {
    write("modules.json",
          R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
              {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])");
    write("1_Pooling/config.json",
          R"({"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false})");
    write("sentence_bert_config.json", R"({"max_seq_length":256,"do_lower_case":false})");
    const auto sc = runtime::read_sentence_config(dir_.string());
    EXPECT_EQ(sc.pooling, Pooling::Cls);
    EXPECT_EQ(sc.normalize, false);  // no Normalize module
    EXPECT_EQ(sc.max_seq_length, 256);
}

TEST_F(SentenceFiles, UnsupportedPoolingAndBrokenJsonAreNamed) {
    write("modules.json",
          R"([{"type":"sentence_transformers.models.Pooling","path":"1_Pooling"}])");
    write("1_Pooling/config.json", R"({"pooling_mode_mean_sqrt_len_tokens":true})");
    EXPECT_NE(error_of([&] {
                  runtime::read_sentence_config(dir_.string());
              }).find("pooling_mode_mean_sqrt_len_tokens is not implemented"),
              std::string::npos);
    write("1_Pooling/config.json",
          R"({"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":true})");
    EXPECT_NE(
        error_of([&] { runtime::read_sentence_config(dir_.string()); }).find("2 pooling modes"),
        std::string::npos);
    // Found by tests/fuzz (sentence_config): a path that is not a string escaped as a JSON
    // library exception instead of an Error naming the file.
    write("modules.json", R"([{"type":"sentence_transformers.models.Pooling","path":{}}])");
    EXPECT_NE(error_of([&] {
                  runtime::read_sentence_config(dir_.string());
              }).find("modules.json: a module's \"path\" must be a string, got {}"),
              std::string::npos);
    write("modules.json", "[{");
    EXPECT_NE(error_of([&] {
                  runtime::read_sentence_config(dir_.string());
              }).find("modules.json: invalid JSON"),
              std::string::npos);
}

TEST(ReplaceInvalidUtf8, MatchesPythonErrorsReplace) {
    // Expected values from bytes.decode("utf-8", errors="replace") (maximal subparts).
    const std::string r = "\xEF\xBF\xBD";
    size_t n = 0;
    EXPECT_EQ(replace_invalid_utf8("plain ascii", &n), "plain ascii");
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(replace_invalid_utf8("a\xff"
                                   "b",
                                   &n),
              "a" + r + "b");
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(replace_invalid_utf8("\xe2\x82", &n), r);  // truncated 3-byte sequence: one
    EXPECT_EQ(replace_invalid_utf8("\xe2\x82"
                                   "x",
                                   &n),
              r + "x");
    EXPECT_EQ(replace_invalid_utf8("\xed\xa0\x80", &n), r + r + r);  // surrogate: each byte
    EXPECT_EQ(n, 3u);
    EXPECT_EQ(replace_invalid_utf8("\xf0\x9f\xa6", &n), r);
    EXPECT_EQ(replace_invalid_utf8("\xc0\xaf", &n), r + r);  // overlong
    EXPECT_EQ(replace_invalid_utf8("ok \xf0\x9f\xa6\x80 crab", &n), "ok \xf0\x9f\xa6\x80 crab");
    EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace ferris
