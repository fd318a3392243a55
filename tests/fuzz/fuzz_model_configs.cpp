// A config.json of any bytes, read as a BERT / MPNet encoder's and as a Qwen2 decoder's: either
// refused (Parse, Unsupported) or a configuration whose shapes agree and whose sizes can be
// computed (UBSan traps a signed overflow in parameter_count or max_tokens).
#include <cstdint>

#include "fuzz_target.h"
#include "models/encoder/config.h"
#include "models/qwen2/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string text(fuzz::as_text(data, size));
    fuzz::expect_only_ferris_errors([&] {
        const auto c = models::encoder::EncoderConfig::from_json_text(text, "config.json");
        fuzz::require(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 &&
                          c.num_hidden_layers > 0 && c.num_attention_heads > 0,
                      "encoder: positive sizes");
        fuzz::require(c.head_dim * c.num_attention_heads == c.hidden_size,
                      "encoder: heads x head_dim = hidden");
        fuzz::require(c.max_tokens() > 0, "encoder: room for a token");
        fuzz::require(c.parameter_count() > 0, "encoder: parameters counted");
        const auto again =
            models::encoder::EncoderConfig::from_json_text(c.to_json_text(), "again");
        fuzz::require(again.to_json_text() == c.to_json_text(), "encoder: round trip");
    });
    fuzz::expect_only_ferris_errors([&] {
        const auto c = models::qwen2::Qwen2Config::from_json_text(text, "config.json");
        fuzz::require(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 &&
                          c.num_hidden_layers > 0 && c.num_attention_heads > 0 &&
                          c.num_key_value_heads > 0,
                      "qwen2: positive sizes");
        fuzz::require(c.num_attention_heads % c.num_key_value_heads == 0,
                      "qwen2: query heads grouped evenly over key/value heads");
        fuzz::require(c.parameter_count() > 0, "qwen2: parameters counted");
        for (bool layout5 : {false, true}) {
            const auto again =
                models::qwen2::Qwen2Config::from_json_text(c.to_json_text(layout5), "again");
            fuzz::require(again.to_json_text() == c.to_json_text(), "qwen2: round trip");
        }
    });
    return 0;
}
