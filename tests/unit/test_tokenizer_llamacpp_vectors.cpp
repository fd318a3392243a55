// llama.cpp's Qwen2 tokenizer vectors (models/ggml-vocab-qwen2.gguf.inp/.out, made with HF
// `tokenizers`): every input must encode to its ids. Inputs and outputs are split exactly as
// llama.cpp's tests/test-tokenizer-0.cpp does (add_special = false, parse_special = false).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "ferris/tokenizer.h"

namespace {

const char* kInp = FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/ggml-vocab-qwen2.gguf.inp";
const char* kOut = FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/ggml-vocab-qwen2.gguf.out";

std::string read_all(const char* path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// read_tests() of test-tokenizer-0.cpp: inputs separated by "\n__ggml_vocab_test__\n".
std::vector<std::string> split_inputs(const std::string& raw) {
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t pos = 0;
    while (pos < raw.size()) {
        size_t next = raw.find(sep, pos);
        if (next == std::string::npos) {
            inputs.push_back(raw.substr(pos));
            break;
        }
        inputs.push_back(raw.substr(pos, next - pos));
        pos = next + sep.size();
    }
    return inputs;
}

// One line of space-separated ids per input (lines carry a leading space: stripped).
std::vector<std::vector<int32_t>> read_outputs(const std::string& raw) {
    std::vector<std::vector<int32_t>> outputs;
    std::istringstream lines(raw);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream ids(line);
        std::vector<int32_t> row;
        for (int32_t id; ids >> id;) row.push_back(id);
        outputs.push_back(std::move(row));
    }
    return outputs;
}

TEST(TokenizerLlamaCppVectors, Qwen2EveryInputMatches) {
    auto tokenizer =
        ferris::Tokenizer::from_file(FERRIS_SOURCE_DIR "/assets/qwen2.5/tokenizer.json");
    std::vector<std::string> inputs = split_inputs(read_all(kInp));
    std::vector<std::vector<int32_t>> outputs = read_outputs(read_all(kOut));
    ASSERT_EQ(inputs.size(), outputs.size());
    ASSERT_EQ(inputs.size(), 46u);  // the vector set as committed (see MANIFEST.md)
    size_t non_empty = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        EXPECT_EQ(tokenizer->encode(inputs[i], false), outputs[i])
            << "vector " << i << ": '" << inputs[i] << "'";
        non_empty += outputs[i].empty() ? 0 : 1;
    }
    EXPECT_GE(non_empty, 40u);
}

}  // namespace
