// Builds a Tokenizer from the text of a Hugging Face tokenizer.json (what Tokenizer::from_file
// does after reading the file). Used for the embedded Qwen tokenizer (ferris::assets).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ferris/tokenizer.h"

namespace ferris {

// Throws Parse (malformed JSON, missing or mistyped fields) or Unsupported (model, normalizer,
// pre-tokenizer, post-processor or decoder types not implemented); messages start with
// name_for_errors.
std::unique_ptr<Tokenizer> from_json_text(std::string_view json,
                                          const std::string& name_for_errors);

}  // namespace ferris
