// Accessors for the files that assets_embed.S places in .rodata.
#include "ferris/assets.h"

extern "C" {
extern const char ferris_asset_qwen_tokenizer_json[];
extern const char ferris_asset_qwen_tokenizer_json_end[];
extern const char ferris_asset_qwen_tokenizer_config_json[];
extern const char ferris_asset_qwen_tokenizer_config_json_end[];
extern const char ferris_asset_bert_tokenizer_json[];
extern const char ferris_asset_bert_tokenizer_json_end[];
extern const char ferris_asset_mpnet_tokenizer_json[];
extern const char ferris_asset_mpnet_tokenizer_json_end[];
}

namespace ferris::assets {

std::string_view qwen_tokenizer_json() {
    return {ferris_asset_qwen_tokenizer_json,
            static_cast<size_t>(ferris_asset_qwen_tokenizer_json_end -
                                ferris_asset_qwen_tokenizer_json)};
}

std::string_view qwen_tokenizer_config_json() {
    return {ferris_asset_qwen_tokenizer_config_json,
            static_cast<size_t>(ferris_asset_qwen_tokenizer_config_json_end -
                                ferris_asset_qwen_tokenizer_config_json)};
}

std::string_view bert_tokenizer_json() {
    return {ferris_asset_bert_tokenizer_json,
            static_cast<size_t>(ferris_asset_bert_tokenizer_json_end -
                                ferris_asset_bert_tokenizer_json)};
}

std::string_view mpnet_tokenizer_json() {
    return {ferris_asset_mpnet_tokenizer_json,
            static_cast<size_t>(ferris_asset_mpnet_tokenizer_json_end -
                                ferris_asset_mpnet_tokenizer_json)};
}

}  // namespace ferris::assets
