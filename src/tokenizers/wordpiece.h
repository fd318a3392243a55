// WordPieceTokenizer: the Hugging Face `tokenizers` pipeline of BERT-style encoders (BERT, E5,
// MiniLM, MPNet): added tokens → BertNormalizer → BertPreTokenizer → greedy longest-match
// WordPiece → post-processor template; decode is the WordPiece decoder. WordPieceConfig comes from
// tokenizer.json (tokenizer_json.cpp) or from a bare vocab.txt (from_vocab_txt).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferris/tokenizer.h"
#include "tokenizers/pipeline.h"

namespace ferris {

// normalizers::BertNormalizer; strip_accents unset follows lowercase.
struct BertNormalizerOptions {
    bool clean_text = true;
    bool handle_chinese_chars = true;
    std::optional<bool> strip_accents;
    bool lowercase = true;
};

// One normalizer step: BertNormalizer, a Unicode form / Lowercase, or StripAccents.
struct WordPieceNormalizer {
    enum class Kind { Bert, Unicode, StripAccents };
    Kind kind = Kind::Bert;
    BertNormalizerOptions bert;
    NormalizerKind unicode = NormalizerKind::Nfd;
};

struct WordPieceConfig {
    std::string name;  // file name used in error messages
    std::vector<std::pair<std::string, int32_t>> vocab;
    std::string unk_token = "[UNK]";
    std::string continuing_subword_prefix = "##";
    int64_t max_input_chars_per_word = 100;
    std::vector<AddedToken> added_tokens;
    std::vector<WordPieceNormalizer> normalizers;  // applied in order
    bool bert_pre_tokenizer = true;                // false: each text segment is one word
    // Post-processor for add_special=true: ids around kSequenceSlot (pipeline.h); empty adds
    // nothing.
    std::vector<int32_t> single_template;
    bool decoder_wordpiece = true;  // false: no decoder, tokens are joined with " "
    std::string decoder_prefix = "##";
    bool decoder_cleanup = true;
    std::optional<int64_t> max_length;  // truncation.max_length hint; encode() never truncates
};

class WordPieceTokenizer final : public Tokenizer {
public:
    explicit WordPieceTokenizer(WordPieceConfig config);  // throws Parse on a bad vocabulary

    // A bare vocab.txt (one token per line, id = line number) with BertTokenizer's defaults:
    // BertNormalizer(lowercase), BertPreTokenizer, "[CLS] $A [SEP]". tokenizer_config.json next
    // to it, when present, may set do_lower_case, strip_accents, tokenize_chinese_chars, the
    // special tokens and model_max_length. Throws Io / Parse.
    static std::unique_ptr<WordPieceTokenizer> from_vocab_txt(const std::string& path);

    std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
    // The token's text with the continuation prefix removed; decode() adds the spaces.
    std::string token_bytes(int32_t id) const override;

    int64_t vocab_size() const override { return vocab_size_; }
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    std::string id_to_token(int32_t id) const override;
    bool is_special(int32_t id) const override;

    // The maximum sequence length the files declare (truncation.max_length or
    // model_max_length), for the model to truncate at; nullopt when none is given.
    std::optional<int64_t> max_length() const { return max_length_; }
    // The post-processor on its own, for callers that truncate between encode(text, false) and
    // it: how many ids it adds, and the wrapped sequence ("[CLS] ids [SEP]").
    int64_t num_special_tokens() const;
    std::vector<int32_t> add_special_tokens(const std::vector<int32_t>& ids) const;

private:
    // A string → id table; lookups by string_view do not allocate.
    class Table {
    public:
        void insert(std::string_view key, int32_t id);  // a repeated key keeps the last id
        int32_t find(std::string_view key) const;       // -1 when absent
        size_t max_key_size() const { return max_key_size_; }

    private:
        std::vector<std::pair<std::string, int32_t>> entries_;
        std::vector<int32_t> slots_;  // indexes into entries_, -1 empty; power-of-two size
        size_t max_key_size_ = 0;
        void grow();
    };

    void encode_normalized(std::string_view text, std::vector<int32_t>& ids) const;
    void word_piece(std::string_view word, std::vector<int32_t>& ids) const;
    int32_t unk_id() const;  // throws when the unk token is not in the vocabulary
    bool normalize(std::string_view text, std::string& out) const;
    std::string_view token_string(int32_t id) const;

    std::string name_;
    Table words_;          // every vocabulary entry
    Table continuations_;  // entries that start with the prefix, stored without it
    std::vector<std::string> id_to_string_;  // vocabulary string of each id ("" when none)
    std::vector<int32_t> id_to_added_;       // per id: index into added_tokens_ or -1 (wins)
    std::vector<uint8_t> special_;           // per id: 1 when a special added token
    std::unordered_map<std::string, int32_t> added_by_content_;
    int64_t vocab_size_ = 0;
    std::string unk_token_;
    int32_t unk_id_ = -1;
    std::string prefix_;
    size_t max_chars_ = 100;
    std::vector<WordPieceNormalizer> normalizers_;
    bool bert_pre_tokenizer_ = true;
    std::vector<AddedToken> added_tokens_;
    AddedMatcher raw_added_;         // normalized=false: matched in the raw text
    AddedMatcher normalized_added_;  // normalized=true: matched in the normalized text
    std::vector<int32_t> single_template_;
    bool decoder_wordpiece_ = true;
    std::string decoder_prefix_;
    bool decoder_cleanup_ = true;
    std::optional<int64_t> max_length_;
};

// The stages, exposed for tests. All take valid UTF-8.
// BertNormalizer::normalize; returns false, leaving `out` alone, when the text is unchanged.
bool bert_normalize(const BertNormalizerOptions& options, std::string_view text, std::string& out);
// StripAccents (also BertNormalizer's strip_accents): NFD, then drop nonspacing marks.
bool strip_accents(std::string_view text, std::string& out);
// Lowercase (also BertNormalizer's lowercase): Rust's char::to_lowercase, character by character.
bool lowercase(std::string_view text, std::string& out);
// BertPreTokenizer: split on whitespace (removed) and punctuation (each its own piece).
void bert_pre_tokenize(std::string_view text, std::vector<std::string_view>& out);

// Character classes of `tokenizers`' BERT stages (wordpiece_unicode.cpp). Rust's std tables
// (whitespace) are current; the `unicode_categories` crate's (control, punctuation, nonspacing
// mark) are Unicode 8.0, so they are tables here rather than utf8proc lookups.
bool bert_is_whitespace(uint32_t cp);       // char::is_whitespace
bool bert_is_control(uint32_t cp);          // BertNormalizer's is_control: Cc Cf Co, not \t \n \r
bool bert_is_punctuation(uint32_t cp);      // is_ascii_punctuation || is_punctuation (P*)
bool bert_is_chinese_char(uint32_t cp);     // BertNormalizer's is_chinese_char
bool bert_is_nonspacing_mark(uint32_t cp);  // Mn
// char::to_lowercase for every code point but U+0130 (whose lowercase is two characters).
uint32_t bert_to_lower(uint32_t cp);

}  // namespace ferris
