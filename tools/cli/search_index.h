// `search --index F`: the corpus' passage vectors kept in a file, so that a later search embeds
// only the query and the passages that are new or changed since. The file is a .safetensors
// (readable by any safetensors reader): "embeddings" F32 (N, D) in corpus order, "text_hashes"
// I64 (N, the FNV-1a 64 of each passage's text), and metadata naming the format and everything
// else a vector depends on (the model folder's files, pooling, normalization, maximum length,
// dtype, device kind, passage prefix). A vector is reused only where all of that matches, so a
// search with an index ranks as one without it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ferris/embedding_model.h"

namespace ferris::cli {

// What a passage's vector depends on besides its text, as one string: the model folder's files
// (name, size, modification time; the index itself left out, should it be kept there), the
// resolved pooling, normalization and maximum length, the compute dtype asked for (empty: as
// stored), the device kind and the passage prefix.
std::string index_fingerprint(const std::string& model_dir, const std::string& index_path,
                              const EmbeddingModel& model, const std::string& dtype,
                              const std::string& passage_prefix);

struct IndexUse {
    int64_t reused = 0;    // vectors taken from the file
    int64_t embedded = 0;  // passages embedded by this run
    bool written = false;  // the file was (re)written
};

// The passages' vectors (N, D, f32, corpus order), reusing what `index_path` holds for the same
// fingerprint and writing the file back (atomically) when anything changed. A file that exists
// but is not a Ferris search index is refused (Error, InvalidArgument) and left as it is; an index
// built for another fingerprint is rebuilt, with a notice.
Tensor indexed_passage_vectors(const std::string& index_path, const std::string& fingerprint,
                               const EmbeddingModel& model,
                               const std::vector<std::string>& passages, const std::string& prefix,
                               const std::function<void(int64_t, int64_t)>& progress,
                               IndexUse* use);

}  // namespace ferris::cli
