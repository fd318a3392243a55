// What a sentence-transformers folder says about pooling, normalization and length:
// modules.json (Transformer → Pooling → optional Normalize), 1_Pooling/config.json,
// sentence_bert_config.json. Folders without these files give empty optionals. Modules Ferris
// does not implement (Dense, LayerNorm, ...) are an Unsupported error naming them.
#pragma once

#include <optional>
#include <string>

#include "ferris/embedding_model.h"

namespace ferris::runtime {

struct SentenceConfig {
    std::optional<Pooling> pooling;
    std::optional<bool> normalize;  // set when modules.json exists
    std::optional<int64_t> max_seq_length;
};

SentenceConfig read_sentence_config(const std::string& dir);

}  // namespace ferris::runtime
