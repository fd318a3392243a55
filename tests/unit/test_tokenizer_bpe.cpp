// Byte-level BPE tokenizer (Qwen2.5 tokenizer.json): ids against HF `tokenizers`, round trips on
// the hard corpus, StreamDecoder on split characters, TemplateProcessing, and the error paths.
// Expected ids come from tests/fixtures/tokenizer (see its MANIFEST.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ferris/assets.h"
#include "ferris/error.h"
#include "ferris/tokenizer.h"
#include "tokenizers/pipeline.h"
#include "tokenizers/tokenizer_json.h"

namespace {

using ferris::ErrorCode;
using ferris::Tokenizer;
using Ids = std::vector<int32_t>;

const char* kQwenJson = FERRIS_SOURCE_DIR "/assets/qwen2.5/tokenizer.json";
const char* kFixtures = FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/";

const Tokenizer& qwen() {
    static const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_file(kQwenJson);
    return *tokenizer;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    return nlohmann::json::parse(in);
}

bool valid_utf8(const std::string& s) {
    return ferris::first_invalid_utf8(s) == std::string_view::npos;
}

std::string nfc(const std::string& s) {
    std::string out;
    return ferris::apply_normalizer(ferris::NormalizerKind::Nfc, s, out) ? out : s;
}

// Writes `text` to a fresh file under the temp directory and returns its path.
std::string temp_file(const std::string& name, const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / ("ferris_test_tok_" + name);
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
}

// Expects `fn` to throw ferris::Error with `code` and a message containing `needle`.
template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
    } catch (const ferris::Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

// A tiny character-level BPE (no byte-level stage) for the options Qwen does not use.
const char* kTinyJson = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 5, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 6, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
  "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed",
                    "invert": false},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [5], "tokens": ["[CLS]"]},
                       "[SEP]": {"id": "[SEP]", "ids": [6], "tokens": ["[SEP]"]}}},
  "decoder": null,
  "model": {"type": "BPE", "dropout": null, "unk_token": "[UNK]", "fuse_unk": true,
            "vocab": {"h": 0, "i": 1, "hi": 2, "[UNK]": 3, "hii": 4},
            "merges": ["h i", "hi i"]}
})";

TEST(TokenizerBpe, KnownIdsMatchHuggingFace) {
    // From llama.cpp's ggml-vocab-qwen2.gguf.out and HF `tokenizers`.
    EXPECT_EQ(qwen().encode("Hello world"), (Ids{9707, 1879}));
    EXPECT_EQ(qwen().encode(" Hello world"), (Ids{21927, 1879}));
    EXPECT_EQ(qwen().encode("Hello, y'all! How are you 😁 ?我想在apple工作1314151天～"),
              (Ids{9707,  11,    379,   64848, 0,  2585, 525, 498, 26525, 223, 937,   104100,
                   18493, 22377, 99257, 16,    18, 16,   19,  16,  20,    16,  35727, 21216}));
    EXPECT_EQ(qwen().encode("<|im_start|>user\nhi<|im_end|>"),
              (Ids{151644, 872, 198, 6023, 151645}));
    EXPECT_EQ(qwen().encode("   "), (Ids{262}));
    EXPECT_TRUE(qwen().encode("").empty());
    // Qwen's post-processor (ByteLevel) adds nothing.
    EXPECT_EQ(qwen().encode("Hello world", true), qwen().encode("Hello world", false));
}

TEST(TokenizerBpe, HardCorpusMatchesTokenizersIds) {
    nlohmann::json corpus = read_json(std::string(kFixtures) + "hard_corpus.json");
    nlohmann::json expected = read_json(std::string(kFixtures) + "hard_corpus_qwen_ids.json");
    ASSERT_GE(corpus.size(), 40u);
    ASSERT_EQ(corpus.size(), expected.size());
    for (size_t i = 0; i < corpus.size(); ++i) {
        std::string text = corpus[i].get<std::string>();
        EXPECT_EQ(qwen().encode(text), expected[i].get<Ids>()) << "input " << i << ": " << text;
    }
}

TEST(TokenizerBpe, HardCorpusRoundTrips) {
    nlohmann::json corpus = read_json(std::string(kFixtures) + "hard_corpus.json");
    size_t changed_by_nfc = 0;
    for (const auto& item : corpus) {
        std::string text = item.get<std::string>();
        Ids ids = qwen().encode(text);
        // Decoding gives the NFC form of the text back (the normalizer composes e + U+0301).
        EXPECT_EQ(qwen().decode(ids), nfc(text)) << text;
        if (nfc(text) != text) ++changed_by_nfc;
    }
    EXPECT_GT(changed_by_nfc, 0u) << "the corpus should hold text that NFC changes";
}

TEST(TokenizerBpe, ConcurrentEncodesAgree) {
    // encode() is const and shared between threads (piece cache, per-thread PCRE2 scratch).
    nlohmann::json corpus = read_json(std::string(kFixtures) + "hard_corpus.json");
    std::vector<std::string> texts = corpus.get<std::vector<std::string>>();
    auto t = Tokenizer::from_file(kQwenJson);  // a fresh, cold cache
    std::vector<std::vector<Ids>> results(4);
    std::vector<std::thread> threads;
    for (size_t k = 0; k < results.size(); ++k)
        threads.emplace_back([&, k] {
            for (int round = 0; round < 3; ++round)
                for (const std::string& text : texts) results[k].push_back(t->encode(text));
        });
    for (std::thread& thread : threads) thread.join();
    for (size_t k = 0; k < results.size(); ++k) {
        ASSERT_EQ(results[k].size(), 3 * texts.size());
        for (size_t i = 0; i < results[k].size(); ++i)
            EXPECT_EQ(results[k][i], qwen().encode(texts[i % texts.size()]))
                << texts[i % texts.size()];
    }
}

TEST(TokenizerBpe, SpecialTokensAndSkipping) {
    const Tokenizer& t = qwen();
    EXPECT_EQ(t.vocab_size(), 151669);
    EXPECT_EQ(t.token_to_id("<|im_end|>"), 151645);
    EXPECT_EQ(t.token_to_id("Ġ"), 220);
    EXPECT_FALSE(t.token_to_id("no such token").has_value());
    EXPECT_EQ(t.id_to_token(151645), "<|im_end|>");
    EXPECT_EQ(t.id_to_token(9707), "Hello");
    EXPECT_EQ(t.id_to_token(-1), "");
    EXPECT_EQ(t.id_to_token(999999), "");
    EXPECT_TRUE(t.is_special(151645));
    EXPECT_FALSE(t.is_special(151657));  // <tool_call> is added but not special
    EXPECT_FALSE(t.is_special(9707));
    EXPECT_EQ(t.token_bytes(220), " ");
    EXPECT_EQ(t.token_bytes(198), "\n");
    EXPECT_EQ(t.token_bytes(151644), "<|im_start|>");

    std::string chat = "<|im_start|>user\nhi<|im_end|>\n<tool_call>x</tool_call><|endoftext|>";
    Ids ids = t.encode(chat);
    EXPECT_EQ(t.decode(ids), chat);
    EXPECT_EQ(t.decode(ids, true), "user\nhi\n<tool_call>x</tool_call>");
    // Glued to words, added tokens still split the text.
    EXPECT_EQ(t.encode("a<|endoftext|>b"), (Ids{64, 151643, 65}));
    // Out-of-range ids decode to nothing.
    EXPECT_EQ(t.decode({9707, -5, 1 << 30, 1879}), "Hello world");
}

TEST(TokenizerBpe, AddedTokenFlagsFollowTokenizers) {
    // Qwen's tokenizer.json with <think> lstrip, </think> rstrip and <tool_call> single_word;
    // expected ids from HF `tokenizers` 0.23.2 on the same file.
    nlohmann::json json = read_json(kQwenJson);
    for (auto& token : json["added_tokens"]) {
        if (token["content"] == "<think>") token["lstrip"] = true;
        if (token["content"] == "</think>") token["rstrip"] = true;
        if (token["content"] == "<tool_call>") token["single_word"] = true;
    }
    auto t = ferris::from_json_text(json.dump(), "flags.json");
    EXPECT_EQ(t->encode("a <think> b </think>  c"), (Ids{64, 151667, 293, 220, 151668, 66}));
    EXPECT_EQ(t->encode("x<tool_call>y <tool_call> z"),
              (Ids{87, 27, 14172, 13429, 82244, 220, 151657, 1147}));
    EXPECT_EQ(t->encode("_<tool_call>"), (Ids{41743, 14172, 13429, 29}));  // '_' is \w
    EXPECT_EQ(t->encode("\u00b2<tool_call>"), (Ids{29456, 151657}));       // '²' (No) is not
    EXPECT_EQ(t->encode("\u00e9<tool_call>"), (Ids{963, 27, 14172, 13429, 29}));
    EXPECT_EQ(t->encode("\t<think>\n</think>\n\nok"), (Ids{151667, 198, 151668, 562}));
}

TEST(TokenizerBpe, InvalidUtf8InputIsRejected) {
    expect_error([] { qwen().encode(std::string("ab\xC3(", 4)); }, ErrorCode::InvalidArgument,
                 "not valid UTF-8");
}

TEST(TokenizerBpe, EmbeddedAssetLoadsFromMemory) {
    auto t = ferris::from_json_text(ferris::assets::qwen_tokenizer_json(), "<embedded qwen>");
    EXPECT_EQ(t->vocab_size(), 151669);
    EXPECT_EQ(t->encode("Hello world"), (Ids{9707, 1879}));
}

TEST(TokenizerBpe, DirectoryPathFindsTokenizerJson) {
    auto t = Tokenizer::from_file(FERRIS_SOURCE_DIR "/assets/qwen2.5");
    EXPECT_EQ(t->encode(" Hello world"), (Ids{21927, 1879}));
}

TEST(StreamDecoder, SplitCharactersNeverYieldBrokenUtf8) {
    const Tokenizer& t = qwen();
    std::string text = "Hi 👨‍👩‍👧‍👦 and 🇩🇪, 🦙 ok; 中文 ✅ done";
    Ids ids = t.encode(text);
    size_t partial_tokens = 0;  // tokens whose bytes alone are not valid UTF-8
    for (int32_t id : ids) partial_tokens += valid_utf8(t.token_bytes(id)) ? 0 : 1;
    ASSERT_GT(partial_tokens, 0u) << "the text must contain characters split across tokens";

    ferris::StreamDecoder stream(t);
    std::string joined;
    size_t held_back = 0;
    for (int32_t id : ids) {
        std::string piece = stream.push(id);
        EXPECT_TRUE(valid_utf8(piece)) << "id " << id;
        if (piece.empty()) ++held_back;
        joined += piece;
    }
    joined += stream.flush();
    EXPECT_GT(held_back, 0u);
    EXPECT_EQ(joined, text);
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
    const Tokenizer& t = qwen();
    int32_t lead_f0 = *t.token_to_id("ð");  // the byte 0xF0 alone: starts a 4-byte character
    int32_t letter_a = *t.token_to_id("A");
    ASSERT_EQ(t.token_bytes(lead_f0), "\xF0");

    ferris::StreamDecoder held(t);
    EXPECT_EQ(held.push(lead_f0), "");        // may still complete: held back
    EXPECT_EQ(held.flush(), "\xEF\xBF\xBD");  // never completed: U+FFFD
    EXPECT_EQ(held.flush(), "");

    ferris::StreamDecoder broken(t);
    EXPECT_EQ(broken.push(lead_f0), "");
    EXPECT_EQ(broken.push(letter_a),
              "\xEF\xBF\xBD"
              "A");  // cannot complete: replaced at once

    int32_t continuation = *t.token_to_id("Ģ");  // 0x80: a continuation byte with no lead
    ASSERT_EQ(t.token_bytes(continuation), "\x80");
    ferris::StreamDecoder stray(t);
    EXPECT_EQ(stray.push(continuation), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, SkipsSpecialTokensWhenAsked) {
    const Tokenizer& t = qwen();
    Ids ids = t.encode("<|im_start|>hi<|im_end|>");
    ferris::StreamDecoder skip(t, true), keep(t, false);
    std::string skipped, kept;
    for (int32_t id : ids) {
        skipped += skip.push(id);
        kept += keep.push(id);
    }
    EXPECT_EQ(skipped + skip.flush(), "hi");
    EXPECT_EQ(kept + keep.flush(), "<|im_start|>hi<|im_end|>");
}

TEST(TokenizerBpe, TemplateUnkAndCharacterLevelOptions) {
    auto t = ferris::from_json_text(kTinyJson, "tiny.json");
    EXPECT_EQ(t->encode("hi"), (Ids{2}));
    EXPECT_EQ(t->encode("hii HI"), (Ids{4, 2}));  // Lowercase normalizer, whitespace removed
    EXPECT_EQ(t->encode("hi", true), (Ids{5, 2, 6}));
    EXPECT_EQ(t->encode("", true), (Ids{5, 6}));
    EXPECT_EQ(t->encode("xyh"), (Ids{3, 0}));  // unknown characters fused into one [UNK]
    EXPECT_EQ(t->encode("[CLS]hi"), (Ids{5, 2}));
    EXPECT_EQ(t->decode({5, 2, 4, 6}, true), "hi hii");  // no decoder: joined with spaces
    EXPECT_TRUE(t->is_special(5));
}

TEST(TokenizerJson, MalformedJsonIsParseError) {
    std::string path = temp_file("malformed.json", "{\"model\": {\"type\": \"BPE\", ");
    expect_error([&] { Tokenizer::from_file(path); }, ErrorCode::Parse, path);
    expect_error([&] { Tokenizer::from_file(path); }, ErrorCode::Parse, "not valid JSON");
}

TEST(TokenizerJson, MissingOrMistypedFieldsAreParseErrors) {
    expect_error([] { ferris::from_json_text(R"({"version": "1.0"})", "a.json"); },
                 ErrorCode::Parse, "a.json: model: missing");
    expect_error([] { ferris::from_json_text(R"({"model": {"type": "BPE", "merges": []}})", "b"); },
                 ErrorCode::Parse, "model.vocab: missing");
    expect_error([] { ferris::from_json_text(R"({"model": {"type": "BPE", "vocab": {}}})", "c"); },
                 ErrorCode::Parse, "model.merges: missing");
    expect_error(
        [] {
            ferris::from_json_text(
                R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})", "d");
        },
        ErrorCode::Parse, "model.vocab['a']: expected an integer id");
    expect_error(
        [] {
            ferris::from_json_text(
                R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", "e");
        },
        ErrorCode::Parse, "model.merges[0]: token 'b' is not in the vocabulary");
    expect_error(
        [] {
            ferris::from_json_text(
                R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a a"]}})", "f");
        },
        ErrorCode::Parse, "model.merges[0]");
    expect_error([] { ferris::from_json_text("[1, 2]", "g"); }, ErrorCode::Parse,
                 "expected a JSON object");
}

// Found by tests/fuzz (tokenizer_json): the tables are sized by the largest id, so a 335-byte
// file naming id 2^31 - 1 asked for 7.6 GB instead of being refused.
TEST(TokenizerJson, IdsPastTheLimitAreParseErrors) {
    expect_error(
        [] {
            ferris::from_json_text(
                R"({"model": {"type": "BPE", "vocab": {"a": 2147483647}, "merges": []}})", "v");
        },
        ErrorCode::Parse, "v: token id 2147483647 is past the limit of 4194303");
    expect_error(
        [] {
            ferris::from_json_text(R"({"added_tokens": [{"id": 4194304, "content": "<x>"}],
                "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
                                   "added");
        },
        ErrorCode::Parse, "added: token id 4194304 is past the limit");
    expect_error(
        [] {
            ferris::from_json_text(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]",
                "vocab": {"[UNK]": 0, "b": 4194304}}})",
                                   "wp");
        },
        ErrorCode::Parse, "wp: token id 4194304 is past the limit");
    const auto largest = ferris::from_json_text(
        R"({"model": {"type": "BPE", "vocab": {"a": 4194303}, "merges": []}})", "largest");
    EXPECT_EQ(largest->vocab_size(), 4194304);
    EXPECT_EQ(largest->encode("a"), std::vector<int32_t>{4194303});
}

TEST(TokenizerJson, UnsupportedTypesAreNamed) {
    expect_error(
        [] { ferris::from_json_text(R"({"model": {"type": "Unigram", "vocab": []}})", "u.json"); },
        ErrorCode::Unsupported, "u.json: tokenizer model type 'Unigram' is not supported");
    expect_error(
        [] {
            ferris::from_json_text(R"({"normalizer": {"type": "Precompiled"},
                "model": {"type": "BPE", "vocab": {}, "merges": []}})",
                                   "n.json");
        },
        ErrorCode::Unsupported, "normalizer type 'Precompiled' is not supported");
    expect_error(
        [] {
            ferris::from_json_text(R"({"pre_tokenizer": {"type": "Metaspace"},
                "model": {"type": "BPE", "vocab": {}, "merges": []}})",
                                   "p.json");
        },
        ErrorCode::Unsupported, "pre-tokenizer type 'Metaspace' is not supported");
}

TEST(TokenizerJson, MissingFileIsIoError) {
    std::string path = FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/no_such_tokenizer.json";
    expect_error([&] { Tokenizer::from_file(path); }, ErrorCode::Io, path);
    expect_error([] { Tokenizer::from_file("/nonexistent-dir/"); }, ErrorCode::Io,
                 "/nonexistent-dir/: no such file");
}

}  // namespace
