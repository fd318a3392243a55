// A tokenizer.json of any bytes: from_json_text() must either refuse it (Parse, Unsupported) or
// give a tokenizer whose ids, for any text, lie in [0, vocab_size) and decode without error.
#include <cstdint>

#include "ferris/tokenizer.h"
#include "fuzz_target.h"
#include "tokenizers/tokenizer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    fuzz::expect_only_ferris_errors([&] {
        const auto tokenizer = from_json_text(fuzz::as_text(data, size), "tokenizer.json");
        static const char* const texts[] = {
            "",
            "Hello, world! How's it going?",
            "Café naïve ÀÉÎ déjà-vu",
            "日本語のテキスト 中文 한국어",
            "emoji 🙂👍🏽 and \t tabs \n newlines",
            "supercalifragilisticexpialidocious_and_a_very_long_identifier_name_1234567890",
            "[CLS] <s> </s> [SEP] <|endoftext|> <|im_start|>",
            "\xff\xfe broken \xc3 utf-8"};
        for (const char* text : texts) {
            for (bool add_special : {false, true}) {
                fuzz::expect_only_ferris_errors([&] {
                    const std::vector<int32_t> ids = tokenizer->encode(text, add_special);
                    for (int32_t id : ids)
                        fuzz::require(id >= 0 && id < tokenizer->vocab_size(), "id in range");
                    tokenizer->decode(ids);
                    tokenizer->decode(ids, /*skip_special=*/true);
                });
            }
        }
    });
    return 0;
}
