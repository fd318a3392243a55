// Tokenizers loaded from Hugging Face tokenizer.json. Tokenizer is the interface; byte-level BPE
// (Qwen2) lives in src/tokenizers/bpe.*, WordPiece (BERT, MPNet) in src/tokenizers/wordpiece.*.
// encode() matches `tokenizers` Tokenizer.encode(text, add_special_tokens=...) id for id.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferris {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Loads tokenizer.json (a file path or a directory holding one). Throws Io/Parse/Unsupported.
    static std::unique_ptr<Tokenizer> from_file(const std::string& path);

    // Added and special tokens are matched in the text first (as `tokenizers` does); the rest is
    // normalized, pre-tokenized and split by the model. add_special applies the post-processor.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_special = false) const = 0;
    // Concatenated text of the ids; may contain broken UTF-8 only if the ids cut a character.
    virtual std::string decode(const std::vector<int32_t>& ids,
                               bool skip_special = false) const = 0;
    // Raw bytes one token stands for (byte-level decoded for BPE).
    virtual std::string token_bytes(int32_t id) const = 0;

    virtual int64_t vocab_size() const = 0;  // highest id + 1, added tokens included
    virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
    virtual std::string id_to_token(int32_t id) const = 0;  // "" when unknown
    virtual bool is_special(int32_t id) const = 0;
};

// Turns a stream of ids into text that is safe to print as it comes: bytes that end inside a
// UTF-8 character are held back until the character completes (flush() emits the rest, with
// invalid sequences replaced by U+FFFD).
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
        : tokenizer_(tokenizer), skip_special_(skip_special) {}
    std::string push(int32_t id);
    std::string flush();

private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    std::string pending_;
};

}  // namespace ferris
