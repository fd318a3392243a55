// BpeTokenizer: the Hugging Face `tokenizers` pipeline for BPE models (Qwen2, GPT-2, Llama-3):
// added tokens → normalizer → pre-tokenizer (regex splits, byte-level) → BPE merges → ids.
// BpeConfig is filled from tokenizer.json by tokenizer_json.cpp; this class never sees JSON.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferris/tokenizer.h"
#include "tokenizers/pipeline.h"

namespace ferris {

struct BpeModelConfig {
    std::vector<std::pair<std::string, int32_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;  // rank = index
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};

struct BpeConfig {
    std::string name;  // file name used in error messages
    BpeModelConfig model;
    std::vector<AddedToken> added_tokens;
    std::vector<NormalizerKind> normalizers;  // applied in order
    std::vector<PreTokenizerStep> pre_tokenizers;
    // Post-processor for add_special=true, flattened to the "single" template: ids to emit, with
    // kSequenceSlot where the encoded text goes. Empty: the post-processor adds nothing.
    std::vector<int32_t> single_template;
    bool decoder_byte_level = true;  // false: no decoder, tokens are joined with " "
};

class BpeTokenizer final : public Tokenizer {
public:
    explicit BpeTokenizer(BpeConfig config);  // throws Parse (bad merges) / Unsupported
    ~BpeTokenizer() override;

    std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
    std::string token_bytes(int32_t id) const override;

    int64_t vocab_size() const override { return vocab_size_; }
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    std::string id_to_token(int32_t id) const override;
    bool is_special(int32_t id) const override;

private:
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct MergeSlot {
        uint64_t key;  // (left id << 32) | right id; all ones when unused
        uint32_t rank;
        int32_t new_id;
    };

    // Pipeline stages, in the order encode() runs them.
    bool normalize(std::string_view text, std::string& out) const;  // false: unchanged
    void encode_normalized(std::string_view text, std::vector<int32_t>& ids) const;
    void pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces,
                      std::deque<std::string>& arena) const;
    void tokenize_piece(std::string_view piece, std::vector<int32_t>& ids) const;
    void bpe(std::string_view piece, std::vector<int32_t>& ids) const;
    void initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const;
    void merge_small(std::vector<int32_t>& symbols) const;
    void merge_large(std::vector<int32_t>& symbols) const;

    const MergeSlot* find_merge(int32_t left, int32_t right) const;
    int32_t find_vocab(std::string_view token) const;  // -1 when absent
    std::string_view token_string(int32_t id) const;   // added content or vocabulary string
    std::string byte_level_string(std::string_view bytes) const;

    std::string name_;
    // Model vocabulary (byte-level alphabet strings) as loaded, indexed by a flat hash table.
    std::vector<std::pair<std::string, int32_t>> vocab_;
    std::vector<int32_t> vocab_slots_;  // indexes into vocab_, -1 empty; power-of-two size
    std::vector<int32_t> id_to_vocab_;  // per id: index into vocab_ or -1
    std::vector<int32_t> id_to_added_;  // per id: index into added_tokens_ or -1 (wins)
    std::vector<uint8_t> special_;      // per id: 1 when an added token flagged special
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> added_by_content_;
    int64_t vocab_size_ = 0;
    std::vector<MergeSlot> merges_;  // open addressing, power-of-two size
    uint32_t merge_shift_ = 0;
    int32_t byte_ids_[256];           // byte-level: id of each byte's alphabet character, or -1
    bool byte_ids_complete_ = false;  // every byte has an id and no prefix/suffix is set
    bool byte_level_ = false;         // the model sees the GPT-2 byte alphabet
    bool decoder_byte_level_ = true;
    int32_t unk_id_ = -1;
    BpeModelConfig model_;  // options only: vocab and merges are moved out
    std::vector<NormalizerKind> normalizers_;
    std::vector<PreTokenizerStep> pre_tokenizers_;
    std::vector<std::unique_ptr<Regex>> regexes_;  // per pre-tokenizer step, null if none
    std::vector<AddedToken> added_tokens_;
    AddedMatcher raw_added_;         // added tokens with normalized=false, matched in raw text
    AddedMatcher normalized_added_;  // normalized=true, matched in normalized pieces
    std::vector<int32_t> single_template_;

    // Piece → ids cache; piece repetition is high in real text. Cleared when full.
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>
        cache_;
};

}  // namespace ferris
