// safetensors: memory-mapped, validated reading (single files and sharded checkpoints through
// model.safetensors.index.json) and atomic writing (temp file + rename).
// Tensors returned by get() are zero-copy views into the mapping and keep it alive.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ferris/tensor.h"

namespace ferris::io {

struct TensorInfo {
    std::string name;
    std::string dtype_name;  // as written in the header: "BF16", "F32", ...
    Shape shape;
    size_t begin = 0;  // byte offsets relative to the start of the data section
    size_t end = 0;
    std::string file;  // path of the file holding it
};

class MappedFile;

// One .safetensors file, mapped read-only. open() validates the whole header: its length within
// the file, valid JSON, known dtype names, offsets inside the data section, no overlaps, sizes
// equal to numel x dtype size. Every problem is a ferris::Error naming the file.
class SafetensorsFile {
public:
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);

    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const TensorInfo* find(const std::string& name) const;  // nullptr when absent
    // Zero-copy view; throws Unsupported for dtypes Ferris cannot compute with (F64, I8, ...).
    Tensor get(const std::string& name) const;

private:
    std::string path_;
    std::shared_ptr<MappedFile> map_;
    size_t data_offset_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// A checkpoint: one file or several shards named by an index.
class Checkpoint {
public:
    // A directory with model.safetensors or model.safetensors.index.json (+ shards), or a
    // single .safetensors file. `stem` picks other names ("adapter_model").
    static Checkpoint open(const std::string& path, const std::string& stem = "model");

    std::vector<std::string> names() const;  // sorted
    bool has(const std::string& name) const;
    const TensorInfo& info(const std::string& name) const;  // throws InvalidArgument
    Tensor get(const std::string& name) const;
    const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

private:
    std::string path_;  // as opened, for messages
    std::vector<std::shared_ptr<SafetensorsFile>> files_;
    std::map<std::string, size_t> owner_;  // tensor name -> index into files_
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes host tensors (any dtype Ferris has) to `path` atomically: a temporary file in the same
// directory, fsync, rename. Tensors are written in the given order; names must be unique.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace ferris::io
