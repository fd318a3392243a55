// Tokenizer parity with Python `tokenizers` (scripts/fixtures/tokenizer_reference.py, run on the
// GPU machine): ids and decoded text for the hard corpus, and ids for all 1000 docs1000 passages.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ferris/tokenizer.h"

namespace ferris {
namespace {

nlohmann::json load(const std::string& name) {
    std::ifstream in(std::string(FERRIS_FIXTURES_DIR) + "/tokenizer/" + name);
    EXPECT_TRUE(in.good()) << name;
    return nlohmann::json::parse(in);
}

const Tokenizer& qwen() {
    static auto tok = Tokenizer::from_file(std::string(FERRIS_SOURCE_DIR) + "/assets/qwen2.5");
    return *tok;
}

TEST(TokenizerParity, HardCorpusIdsAndDecode) {
    const nlohmann::json ref = load("qwen2_reference.json");
    ASSERT_GE(ref["corpus"].size(), 50u);
    for (const auto& e : ref["corpus"]) {
        const std::string text = e["text"];
        const std::vector<int32_t> want = e["ids"];
        EXPECT_EQ(qwen().encode(text), want) << text;
        EXPECT_EQ(qwen().decode(want), e["decoded"].get<std::string>()) << text;
    }
}

TEST(TokenizerParity, Docs1000Ids) {
    const nlohmann::json ref = load("qwen2_reference.json");
    const nlohmann::json docs = load("docs1000.json");
    ASSERT_EQ(ref["docs"].size(), docs.size());
    size_t tokens = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
        const std::vector<int32_t> want = ref["docs"][i];
        tokens += want.size();
        EXPECT_EQ(qwen().encode(docs[i].get<std::string>()), want) << "doc " << i;
    }
    EXPECT_EQ(tokens, 71724u);
}

}  // namespace
}  // namespace ferris
