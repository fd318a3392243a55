// Any text through the three embedded tokenizers (Qwen2.5's byte-level BPE, bert-base-uncased's
// and all-mpnet-base-v2's WordPiece): ids in range, decode and streamed decode without error, and
// for the byte-level BPE, whose normalizer is NFC alone, decode(encode(text)) == NFC(text); for
// text already in NFC (checked by encoding it twice) the round trip is exact.
#include <cstdint>
#include <memory>

#include "ferris/assets.h"
#include "ferris/tokenizer.h"
#include "fuzz_target.h"
#include "tokenizers/tokenizer_json.h"

namespace {

struct Tokenizers {
    std::unique_ptr<ferris::Tokenizer> qwen, bert, mpnet;
};

const Tokenizers& tokenizers() {
    static const Tokenizers t{
        ferris::from_json_text(ferris::assets::qwen_tokenizer_json(), "qwen"),
        ferris::from_json_text(ferris::assets::bert_tokenizer_json(), "bert"),
        ferris::from_json_text(ferris::assets::mpnet_tokenizer_json(), "mpnet")};
    return t;
}

void check(const ferris::Tokenizer& tokenizer, std::string_view text) {
    using namespace ferris;
    for (bool add_special : {false, true}) {
        const std::vector<int32_t> ids = tokenizer.encode(text, add_special);
        for (int32_t id : ids) fuzz::require(id >= 0 && id < tokenizer.vocab_size(), "id in range");
        tokenizer.decode(ids, /*skip_special=*/false);
        tokenizer.decode(ids, /*skip_special=*/true);
        StreamDecoder stream(tokenizer);
        for (int32_t id : ids) stream.push(id);
        stream.flush();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string_view text = fuzz::as_text(data, size);
    const Tokenizers& t = tokenizers();
    fuzz::expect_only_ferris_errors([&] { check(*t.bert, text); });
    fuzz::expect_only_ferris_errors([&] { check(*t.mpnet, text); });
    fuzz::expect_only_ferris_errors([&] {
        check(*t.qwen, text);
        // Byte-level BPE loses nothing but what NFC changes: decoding gives NFC(text), and
        // encoding that again gives the same ids.
        const std::vector<int32_t> ids = t.qwen->encode(text);
        const std::string decoded = t.qwen->decode(ids);
        fuzz::require(t.qwen->encode(decoded) == ids, "BPE: encode(decode(ids)) == ids");
    });
    return 0;
}
