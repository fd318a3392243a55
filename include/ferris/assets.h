// Files embedded in the binary (provenance in assets/README.md): the real Qwen2.5 tokenizer and
// the bert-base-uncased WordPiece tokenizer in its BERT and MPNet layouts. create-model writes
// them into the folders it makes.
#pragma once

#include <string_view>

namespace ferris::assets {

std::string_view qwen_tokenizer_json();
std::string_view qwen_tokenizer_config_json();
std::string_view bert_tokenizer_json();   // e5-small-v2 / all-MiniLM-L6-v2 layout
std::string_view mpnet_tokenizer_json();  // all-mpnet-base-v2 layout

}  // namespace ferris::assets
