// A bare vocab.txt and its tokenizer_config.json of any bytes (the input split at the first NUL
// byte; no NUL: no config): the WordPiece tokenizer either refuses them or encodes any text to
// ids in [0, vocab_size) that decode without error.
#include <cstdint>

#include "ferris/tokenizer.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    fuzz::fresh_scratch_dir();
    const std::string_view input = fuzz::as_text(data, size);
    const size_t split = input.find('\0');
    const std::string vocab = fuzz::write_scratch("vocab.txt", input.substr(0, split));
    if (split != std::string_view::npos)
        fuzz::write_scratch("tokenizer_config.json", input.substr(split + 1));
    fuzz::expect_only_ferris_errors([&] {
        const auto tokenizer = Tokenizer::from_file(vocab);
        for (const char* text : {"", "Hello, World! unaffable", "Café 日本 🙂 [CLS] [MASK]",
                                 "a-very-long-word-indeed-that-goes-on-and-on-and-on-and-on"}) {
            for (bool add_special : {false, true}) {
                const std::vector<int32_t> ids = tokenizer->encode(text, add_special);
                for (int32_t id : ids)
                    fuzz::require(id >= 0 && id < tokenizer->vocab_size(), "id in range");
                tokenizer->decode(ids);
            }
        }
    });
    return 0;
}
