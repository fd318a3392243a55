// WordPiece (BERT / MPNet) tokenizer: llama.cpp's bert-bge vectors, ids / decodes of the hard
// corpus and docs1000 from `tokenizers` 0.23.2 (tests/fixtures/wordpiece/MANIFEST.md), ids checked
// by hand against vocab.txt, the normalizer and pre-tokenizer stages, vocab.txt loading, errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "ferris/error.h"
#include "ferris/tokenizer.h"
#include "tokenizers/tokenizer_json.h"
#include "tokenizers/wordpiece.h"

namespace {

namespace fs = std::filesystem;
using ferris::Tokenizer;
using Ids = std::vector<int32_t>;

const std::string kDir = FERRIS_SOURCE_DIR "/tests/fixtures/wordpiece";
const std::string kBert =
    std::string(FERRIS_SOURCE_DIR) + "/assets/bert-base-uncased/tokenizer.json";
const std::string kMpnet = std::string(FERRIS_SOURCE_DIR) + "/assets/mpnet/tokenizer.json";

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_all(path)); }

// Loaded once: parsing the 700 KB files for every test would dominate the suite's time.
const Tokenizer& bert() {
    static const auto t = Tokenizer::from_file(kBert);
    return *t;
}
const Tokenizer& mpnet() {
    static const auto t = Tokenizer::from_file(kMpnet);
    return *t;
}

// vocab.txt lines: line k holds the token of id k.
const std::vector<std::string>& vocab_lines() {
    static const std::vector<std::string> lines = [] {
        std::vector<std::string> out;
        std::istringstream in(read_all(kDir + "/vocab.txt"));
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }();
    return lines;
}

std::string normalized(std::string_view text, ferris::BertNormalizerOptions options = {}) {
    std::string out;
    return ferris::bert_normalize(options, text, out) ? out : std::string(text);
}

// A scratch folder removed at the end of the test.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() /
               ("ferris-wordpiece-" + name + "-" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& file, const std::string& text) const {
        std::ofstream((path / file).string(), std::ios::binary) << text;
        return (path / file).string();
    }
};

// read_tests() of llama.cpp's test-tokenizer-0.cpp: inputs split on "\n__ggml_vocab_test__\n",
// one line of ids per input. It encodes with add_special = false, parse_special = false, and the
// outputs (written by HF `tokenizers`) hold no [CLS] / [SEP].
TEST(TokenizerWordPiece, LlamaCppBertBgeVectors) {
    std::string raw = read_all(kDir + "/ggml-vocab-bert-bge.gguf.inp");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    for (size_t pos = 0; pos < raw.size();) {
        size_t next = raw.find(sep, pos);
        if (next == std::string::npos) next = raw.size();
        inputs.push_back(raw.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::vector<Ids> outputs;
    std::istringstream lines(read_all(kDir + "/ggml-vocab-bert-bge.gguf.out"));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream ids(line);
        Ids row;
        for (int32_t id; ids >> id;) row.push_back(id);
        outputs.push_back(std::move(row));
    }
    ASSERT_EQ(inputs.size(), 46u);
    ASSERT_EQ(outputs.size(), inputs.size());
    size_t non_empty = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        EXPECT_EQ(bert().encode(inputs[i], false), outputs[i])
            << "vector " << i << ": '" << inputs[i] << "'";
        non_empty += outputs[i].empty() ? 0 : 1;
    }
    EXPECT_GE(non_empty, 35u);
}

// Every hard-corpus string: ids without and with special tokens, decode with and without
// skipping special tokens, as `tokenizers` gives them for both layouts.
TEST(TokenizerWordPiece, HardCorpusMatchesTokenizers) {
    nlohmann::json corpus = read_json(kDir + "/hard_corpus.json");
    nlohmann::json ref = read_json(kDir + "/hard_corpus_ids.json");
    ASSERT_GE(corpus.size(), 40u);
    for (const char* name : {"bert", "mpnet"}) {
        const Tokenizer& tok = std::string(name) == "bert" ? bert() : mpnet();
        const nlohmann::json& rows = ref[name]["corpus"];
        ASSERT_EQ(rows.size(), corpus.size()) << name;
        for (size_t i = 0; i < corpus.size(); ++i) {
            std::string text = corpus[i].get<std::string>();
            SCOPED_TRACE(std::string(name) + " string " + std::to_string(i) + ": '" + text + "'");
            Ids special = rows[i]["ids_special"].get<Ids>();
            EXPECT_EQ(tok.encode(text, false), rows[i]["ids"].get<Ids>());
            EXPECT_EQ(tok.encode(text, true), special);
            EXPECT_EQ(tok.decode(special, false), rows[i]["decoded"].get<std::string>());
            EXPECT_EQ(tok.decode(special, true), rows[i]["decoded_skip"].get<std::string>());
        }
    }
}

// FNV-1a 64 over the ids' little-endian bytes, 0xFFFFFFFF after each document (MANIFEST.md).
TEST(TokenizerWordPiece, Docs1000MatchTokenizers) {
    auto docs = read_json(FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/docs1000.json")
                    .get<std::vector<std::string>>();
    nlohmann::json ref = read_json(kDir + "/hard_corpus_ids.json");
    for (const char* name : {"bert", "mpnet"}) {
        const Tokenizer& tok = std::string(name) == "bert" ? bert() : mpnet();
        uint64_t hash = 14695981039346656037ull;
        auto mix = [&](uint32_t id) {
            for (int k = 0; k < 4; ++k) {
                hash ^= (id >> (8 * k)) & 0xFF;
                hash *= 1099511628211ull;
            }
        };
        size_t tokens = 0;
        for (const std::string& doc : docs) {
            Ids ids = tok.encode(doc, true);
            for (int32_t id : ids) mix(static_cast<uint32_t>(id));
            mix(0xFFFFFFFFu);
            tokens += ids.size();
        }
        char hex[17];
        std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
        EXPECT_EQ(tokens, ref[name]["docs1000_tokens"].get<size_t>()) << name;
        EXPECT_EQ(std::string(hex), ref[name]["docs1000_fnv1a64"].get<std::string>()) << name;
    }
}

// Ids read off vocab.txt by hand (id = line number - 1), then checked against the file.
TEST(TokenizerWordPiece, KnownIdsFromVocab) {
    const auto& v = vocab_lines();
    ASSERT_EQ(v.size(), 30522u);
    EXPECT_EQ(v[7592], "hello");
    EXPECT_EQ(v[2088], "world");
    EXPECT_EQ(v[1010], ",");
    EXPECT_EQ(v[999], "!");
    EXPECT_EQ(v[14477], "una");
    EXPECT_EQ(v[20961], "##ffa");
    EXPECT_EQ(v[3468], "##ble");
    EXPECT_EQ(v[7861], "em");
    EXPECT_EQ(v[8270], "##bed");
    EXPECT_EQ(v[4667], "##ding");
    EXPECT_EQ(v[2015], "##s");
    EXPECT_EQ(v[100], "[UNK]");
    EXPECT_EQ(v[101], "[CLS]");
    EXPECT_EQ(v[102], "[SEP]");
    EXPECT_EQ(bert().encode("Hello, world!"), (Ids{7592, 1010, 2088, 999}));
    EXPECT_EQ(bert().encode("unaffable"), (Ids{14477, 20961, 3468}));  // longest match first
    EXPECT_EQ(bert().encode("embeddings"), (Ids{7861, 8270, 4667, 2015}));
    EXPECT_EQ(mpnet().encode("Hello, world!"), (Ids{7596, 1014, 2092, 1003}));  // + 4
    EXPECT_EQ(bert().vocab_size(), 30522);
    EXPECT_EQ(mpnet().vocab_size(), 30527);
    EXPECT_EQ(bert().token_to_id("##ffa"), 20961);
    EXPECT_EQ(bert().id_to_token(20961), "##ffa");
    EXPECT_EQ(bert().token_bytes(20961), "ffa");
    EXPECT_EQ(bert().token_to_id("not-a-token"), std::nullopt);
    EXPECT_EQ(mpnet().token_to_id("<mask>"), 30526);
    EXPECT_TRUE(bert().is_special(101));
    EXPECT_TRUE(bert().is_special(100));
    EXPECT_FALSE(bert().is_special(7592));
    EXPECT_FALSE(mpnet().is_special(3));  // <unk> is in the vocabulary, not an added token
}

TEST(TokenizerWordPiece, OverlongWordIsOneUnk) {
    EXPECT_EQ(bert().encode(std::string(101, 'a')), (Ids{100}));
    Ids hundred = bert().encode(std::string(100, 'a'));  // at the limit: pieces, not [UNK]
    EXPECT_GT(hundred.size(), 1u);
    EXPECT_EQ(std::count(hundred.begin(), hundred.end(), 100), 0);
    std::string e60, e101;  // the limit counts characters, not bytes
    for (int i = 0; i < 60; ++i) e60 += "\xC3\xA9";
    for (int i = 0; i < 101; ++i) e101 += "\xC3\xA9";
    EXPECT_NE(bert().encode(e60), (Ids{100}));
    EXPECT_EQ(bert().encode(e101), (Ids{100}));
    EXPECT_EQ(bert().encode("ok " + std::string(101, 'z') + " ok"), (Ids{7929, 100, 7929}));
    // A word with a character no piece covers is a single [UNK], however long.
    EXPECT_EQ(bert().encode("abc\xE2\x9D\xA4xyz"), (Ids{100}));  // abc❤xyz
}

TEST(TokenizerWordPiece, StripsAccentsAndLowercases) {
    EXPECT_EQ(normalized("Caf\xC3\xA9 NA\xC3\x8FVE"), "cafe naive");
    EXPECT_EQ(normalized("A\xCC\x8A"), "a");  // A + combining ring
    EXPECT_EQ(normalized("\xC4\xB0"), "i");   // İ: NFD, strip, lowercase
    EXPECT_EQ(bert().encode("Caf\xC3\xA9 R\xC3\xA9sum\xC3\xA9"), bert().encode("cafe resume"));
    ferris::BertNormalizerOptions keep;
    keep.strip_accents = false;  // explicit false wins over lowercase
    EXPECT_EQ(normalized("Caf\xC3\xA9", keep), "caf\xC3\xA9");
    ferris::BertNormalizerOptions cased;
    cased.lowercase = false;  // strip_accents unset follows lowercase
    EXPECT_EQ(normalized("Caf\xC3\xA9", cased), "Caf\xC3\xA9");
}

TEST(TokenizerWordPiece, CleansTextAndSpacesCjk) {
    EXPECT_EQ(normalized("\u4E2D\u6587abc"), " \u4E2D  \u6587 abc");
    EXPECT_EQ(normalized("a\tb\nc\r\u00A0d\u2028e"), "a b c  d e");
    std::string controls = std::string("a") + '\0' + "b\u0001c\uFFFDd\u200Be\u00ADf\uE000g";
    EXPECT_EQ(normalized(controls), "abcdefg");
    Ids zh = bert().encode("\u4E2D\u6587");  // one piece per ideograph
    EXPECT_EQ(zh, (Ids{*bert().token_to_id("\u4E2D"), *bert().token_to_id("\u6587")}));
    std::vector<std::string_view> words;
    ferris::bert_pre_tokenize("don't stop...now\u3002ok", words);  // U+3002 is punctuation
    EXPECT_EQ(words, (std::vector<std::string_view>{"don", "'", "t", "stop", ".", ".", ".", "now",
                                                    "\u3002", "ok"}));
}

TEST(TokenizerWordPiece, AddSpecialTemplates) {
    EXPECT_EQ(bert().encode("hello", true), (Ids{101, 7592, 102}));
    EXPECT_EQ(bert().encode("", true), (Ids{101, 102}));
    EXPECT_EQ(mpnet().encode("hello", true), (Ids{0, 7596, 2}));
    EXPECT_EQ(mpnet().encode("is <mask>.", true), (Ids{0, 2007, 30526, 1016, 2}));
    // BertProcessing / RobertaProcessing (what the Hub's all-mpnet-base-v2 carries) give the
    // same single-sequence ids as the template.
    nlohmann::json j = read_json(kMpnet);
    j["post_processor"] = {{"type", "RobertaProcessing"},
                           {"sep", {"</s>", 2}},
                           {"cls", {"<s>", 0}},
                           {"trim_offsets", true},
                           {"add_prefix_space", false}};
    auto roberta = ferris::from_json_text(j.dump(), "mpnet-roberta.json");
    EXPECT_EQ(roberta->encode("hello", true), (Ids{0, 7596, 2}));
    j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}}};
    auto bert_processing = ferris::from_json_text(j.dump(), "mpnet-bert.json");
    EXPECT_EQ(bert_processing->encode("hello", true), (Ids{0, 7596, 2}));
    j["post_processor"] = nullptr;
    EXPECT_EQ(ferris::from_json_text(j.dump(), "none.json")->encode("hello", true), (Ids{7596}));
}

TEST(TokenizerWordPiece, DecodeRoundTripsLowercaseAscii) {
    const std::string text =
        "the quick brown fox jumps over the lazy dog. embeddings are computed, tokenization "
        "works! does it? yes";
    EXPECT_EQ(bert().decode(bert().encode(text)), text);
    EXPECT_EQ(bert().decode(bert().encode(text, true), true), text);
    EXPECT_EQ(mpnet().decode(mpnet().encode(text, true), true), text);
    EXPECT_EQ(bert().decode(bert().encode(text, true)), "[CLS] " + text + " [SEP]");
    // Cleanup runs on each token, so " ." folds but " ' " (two tokens) never does.
    EXPECT_EQ(bert().decode({2009, 1005, 1055, 1012}), "it ' s.");
}

TEST(TokenizerWordPiece, VocabTxtEqualsTokenizerJson) {
    auto from_dir = Tokenizer::from_file(kDir);  // vocab.txt, no tokenizer.json
    auto from_txt = Tokenizer::from_file(kDir + "/vocab.txt");
    auto docs = read_json(FERRIS_SOURCE_DIR "/tests/fixtures/tokenizer/docs1000.json")
                    .get<std::vector<std::string>>();
    std::vector<std::string> texts = read_json(kDir + "/hard_corpus.json");
    texts.insert(texts.end(), docs.begin(), docs.begin() + 200);
    for (const std::string& text : texts) {
        Ids want = bert().encode(text, true);
        EXPECT_EQ(from_dir->encode(text, true), want) << text;
        EXPECT_EQ(from_txt->encode(text, false), bert().encode(text, false)) << text;
        EXPECT_EQ(from_dir->decode(want, true), bert().decode(want, true)) << text;
    }
    EXPECT_EQ(from_dir->vocab_size(), bert().vocab_size());
    for (int32_t id : {0, 100, 101, 102, 103, 7592})
        EXPECT_EQ(from_dir->is_special(id), bert().is_special(id)) << id;
}

TEST(TokenizerWordPiece, VocabTxtReadsTokenizerConfig) {
    TempDir dir("config");
    fs::copy_file(kDir + "/vocab.txt", dir.path / "vocab.txt");
    dir.write("tokenizer_config.json", R"({"do_lower_case": false, "model_max_length": 512})");
    auto cased = Tokenizer::from_file(dir.path.string());
    // Not lowercased, and accents stay (strip_accents follows do_lower_case).
    EXPECT_NE(cased->encode("Hello"), bert().encode("Hello"));
    EXPECT_EQ(bert().encode("hello caf\xC3\xA9"), (Ids{7592, 7668}));  // cafe
    EXPECT_EQ(cased->encode("hello caf\xC3\xA9"), (Ids{7592, 100}));   // caf, no ##é: [UNK]
    auto* wp = dynamic_cast<const ferris::WordPieceTokenizer*>(cased.get());
    ASSERT_NE(wp, nullptr);
    EXPECT_EQ(wp->max_length(), 512);
    EXPECT_EQ(dynamic_cast<const ferris::WordPieceTokenizer&>(bert()).max_length(), std::nullopt);
    nlohmann::json j = read_json(kBert);
    j["truncation"] = {
        {"direction", "Right"}, {"max_length", 128}, {"strategy", "LongestFirst"}, {"stride", 0}};
    auto truncating = ferris::from_json_text(j.dump(), "t.json");
    EXPECT_EQ(dynamic_cast<ferris::WordPieceTokenizer&>(*truncating).max_length(), 128);
    EXPECT_EQ(truncating->encode(std::string(3000, 'a') + " b").size(), 2u);  // never truncates
}

// Tokenizer::from_file's error for `path`, or "" when it loads.
std::pair<ferris::ErrorCode, std::string> load_error(const std::string& path) {
    try {
        Tokenizer::from_file(path);
    } catch (const ferris::Error& e) {
        return {e.code(), e.what()};
    }
    return {ferris::ErrorCode::Internal, ""};
}

TEST(TokenizerWordPiece, MalformedFilesAreParseErrorsNamingTheFile) {
    TempDir dir("bad");
    std::string text = read_all(kBert);
    auto truncated = dir.write("truncated.json", text.substr(0, text.size() / 2));
    auto [code, message] = load_error(truncated);
    EXPECT_EQ(code, ferris::ErrorCode::Parse);
    EXPECT_NE(message.find(truncated), std::string::npos) << message;

    nlohmann::json j = read_json(kBert);
    j["model"]["vocab"] = {"[UNK]", "a"};
    auto bad_vocab = dir.write("bad_vocab.json", j.dump());
    std::tie(code, message) = load_error(bad_vocab);
    EXPECT_EQ(code, ferris::ErrorCode::Parse);
    EXPECT_NE(message.find(bad_vocab), std::string::npos) << message;
    EXPECT_NE(message.find("model.vocab"), std::string::npos) << message;

    j = read_json(kBert);
    j["normalizer"]["lowercase"] = "yes";
    auto bad_bool = dir.write("bad_bool.json", j.dump());
    std::tie(code, message) = load_error(bad_bool);
    EXPECT_EQ(code, ferris::ErrorCode::Parse);
    EXPECT_NE(message.find("normalizer.lowercase"), std::string::npos) << message;

    j = read_json(kBert);
    j["pre_tokenizer"] = {{"type", "Metaspace"}};
    std::tie(code, message) = load_error(dir.write("metaspace.json", j.dump()));
    EXPECT_EQ(code, ferris::ErrorCode::Unsupported) << message;

    auto bad_config = dir.write("tokenizer_config.json", "{not json");
    dir.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n");
    std::tie(code, message) = load_error(dir.path.string());
    EXPECT_EQ(code, ferris::ErrorCode::Parse);
    EXPECT_NE(message.find(bad_config), std::string::npos) << message;
    std::tie(code, message) = load_error((dir.path / "missing.txt").string());
    EXPECT_EQ(code, ferris::ErrorCode::Io) << message;
}

TEST(TokenizerWordPiece, EncodeErrors) {
    EXPECT_THROW(bert().encode("bad \xFF utf-8"), ferris::Error);
    nlohmann::json j = read_json(kBert);
    j["model"]["unk_token"] = "<missing>";
    auto no_unk = ferris::from_json_text(j.dump(), "no_unk.json");
    EXPECT_EQ(no_unk->encode("hello"), (Ids{7592}));  // unk only needed for unknown words
    try {
        no_unk->encode("\xE2\x9D\xA4");
        ADD_FAILURE() << "expected an error";
    } catch (const ferris::Error& e) {
        EXPECT_EQ(e.code(), ferris::ErrorCode::InvalidArgument);
        EXPECT_NE(std::string(e.what()).find("<missing>"), std::string::npos) << e.what();
    }
}

}  // namespace
