// Model-independent stages of the Hugging Face `tokenizers` pipeline: UTF-8 helpers, added-token
// matching, normalizers (utf8proc) and regex pre-tokenization (PCRE2 JIT). Regexes in
// tokenizer.json are Oniguruma patterns; onig_to_pcre2 keeps Oniguruma's \s and \w sets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ferris/error.h"

namespace ferris {

// Ids a tokenizer may use: 0 .. kMaxTokenIds - 1, the model configs' vocab_size limit. Its tables
// are sized by the largest id, so a file naming id 2^31 - 1 would otherwise ask for gigabytes.
constexpr int32_t kMaxTokenIds = int32_t{1} << 22;
// Throws Parse naming `name` when max_id is past that limit.
void check_max_token_id(int32_t max_id, const std::string& name);

// One entry of tokenizer.json "added_tokens" (defaults as in `tokenizers`' AddedToken).
struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

enum class NormalizerKind { Nfc, Nfd, Nfkc, Nfkd, Lowercase };

// What a Split pre-tokenizer does with the pieces its pattern matches.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStep {
    enum class Kind { Split, ByteLevel };
    Kind kind = Kind::Split;
    std::string pattern;  // Split: Oniguruma regex, or a literal when pattern_is_literal
    bool pattern_is_literal = false;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel
    bool use_regex = false;         // ByteLevel: also split with the GPT-2 regex
};

// UTF-8 helpers; all but first_invalid_utf8 assume valid input.
size_t utf8_len(char lead);
uint32_t utf8_decode(std::string_view s, size_t i, size_t& len);  // code point at s[i]
void utf8_append(std::string& out, uint32_t cp);
size_t first_invalid_utf8(std::string_view s);  // byte offset, or npos when valid
// Each maximal invalid subsequence replaced by U+FFFD (Python's errors="replace"); `replaced`
// counts them.
std::string replace_invalid_utf8(std::string_view s, size_t* replaced = nullptr);

// Applies one normalizer to valid UTF-8. Returns false, leaving `out` alone, when the text is
// already normalized (the common, ASCII case).
bool apply_normalizer(NormalizerKind kind, std::string_view text, std::string& out);

// Rewrites an Oniguruma pattern for PCRE2 with UTF|UCP: \s, \S, \w and \W get Oniguruma's
// Unicode sets, which differ from PCRE2's (PCRE2's \s also matches U+180E).
std::string onig_to_pcre2(std::string_view pattern);

// The regex of ByteLevel(use_regex=true), GPT-2's.
extern const char* const kGpt2Pattern;

// A compiled pattern, safe to share between threads (match data is per thread).
class Regex {
public:
    // Throws Parse naming `name` when the pattern does not compile.
    Regex(const std::string& pattern, bool literal, const std::string& name);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // NormalizedString::split of `tokenizers`: matches (as Oniguruma's find_iter finds them)
    // and the gaps between them, combined by `behavior`; appends the non-empty pieces to out.
    void split(std::string_view text, SplitBehavior behavior, bool invert,
               std::vector<std::string_view>& out) const;

private:
    template <typename OnMatch>
    void for_each_match(std::string_view text, OnMatch&& on_match) const;

    struct Code;
    std::unique_ptr<Code> code_;
};

// A piece of text between added tokens (id -1), or an added token.
struct AddedSplit {
    std::string_view text;
    int32_t id;
};

// AddedVocabulary::find_matches of `tokenizers`: leftmost-longest matches of added tokens
// (aho-corasick MatchKind::LeftmostLongest, here a byte trie), honouring single_word, lstrip
// and rstrip.
class AddedMatcher {
public:
    // `token` must outlive the matcher; `content` is what is searched for (it may be the
    // normalized content). The first token added wins among equal contents.
    void add(std::string_view content, const AddedToken* token);
    bool empty() const { return tokens_.empty(); }
    void split(std::string_view text, std::vector<AddedSplit>& out) const;

private:
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> children;
        int32_t token = -1;  // index into tokens_
    };
    int32_t child(int32_t node, uint8_t byte) const;
    bool find(std::string_view text, size_t from, size_t& begin, size_t& end,
              const AddedToken*& token) const;

    std::vector<Node> nodes_{1};
    std::vector<const AddedToken*> tokens_;
};

// Where the encoded text goes in a post-processor template ("single" of TemplateProcessing).
inline constexpr int32_t kSequenceSlot = -1;

// The template's ids with its sequence slot replaced by `ids` (also: two post-processors in a row).
inline std::vector<int32_t> apply_template(const std::vector<int32_t>& tmpl,
                                           const std::vector<int32_t>& ids) {
    std::vector<int32_t> out;
    out.reserve(ids.size() + tmpl.size());
    for (int32_t id : tmpl) {
        if (id == kSequenceSlot)
            out.insert(out.end(), ids.begin(), ids.end());
        else
            out.push_back(id);
    }
    return out;
}

// The skeleton `tokenizers` runs for every model: reject invalid UTF-8, split out added tokens
// matched in the raw text, normalize each remaining segment and split out the added tokens
// matched after normalization, run the model on the rest, then (add_special) wrap the ids in
// the single template. `normalize(in, out)` returns false when the text is unchanged;
// `model(text, ids)` appends the ids of normalized text.
template <typename Normalize, typename Model>
std::vector<int32_t> encode_with_added_tokens(std::string_view text, bool add_special,
                                              const std::string& name, const AddedMatcher& raw,
                                              const AddedMatcher& normalized,
                                              const std::vector<int32_t>& single_template,
                                              Normalize&& normalize, Model&& model) {
    const size_t bad = first_invalid_utf8(text);
    if (bad != std::string_view::npos)
        fail(ErrorCode::InvalidArgument, "[tokenizer] ", name,
             ": input is not valid UTF-8 (byte offset ", bad, ")");
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    std::vector<AddedSplit> splits, inner;
    std::string scratch;
    raw.split(text, splits);
    for (const AddedSplit& split : splits) {
        if (split.id >= 0) {
            ids.push_back(split.id);
            continue;
        }
        const std::string_view view =
            normalize(split.text, scratch) ? std::string_view(scratch) : split.text;
        if (normalized.empty()) {
            model(view, ids);
            continue;
        }
        inner.clear();
        normalized.split(view, inner);
        for (const AddedSplit& piece : inner) {
            if (piece.id >= 0)
                ids.push_back(piece.id);
            else
                model(piece.text, ids);
        }
    }
    if (!add_special || single_template.empty()) return ids;
    return apply_template(single_template, ids);
}

}  // namespace ferris
