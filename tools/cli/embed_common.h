// What `embed` and `search` share: the encoder options (declared once), loading an
// EmbeddingModel, reading one text per line (invalid UTF-8 replaced with a warning naming the
// line), writing vectors (.jsonl / .npy, atomically) and a progress bar for long inputs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "ferris/embedding_model.h"

namespace ferris::cli {

struct EncoderOptions {
    std::string model_dir;
    std::string model_type = "auto";
    std::string device = "auto";
    std::string dtype;    // empty: the checkpoint's
    std::string pooling;  // empty: the folder's
    bool no_normalize = false;
    int64_t max_length = 0;    // 0: the folder's
    int64_t batch_tokens = 0;  // 0: the library's default for the device
    int threads = 0;

    void add_to(CLI::App* app);
    EmbeddingModel load(bool quiet) const;
};

// Lines of a text file, one text each. Blank lines are skipped (counted in `skipped`); invalid
// UTF-8 is replaced by U+FFFD with one warning per line on stderr.
struct InputLine {
    std::string text;
    int64_t line = 0;  // 1-based line number in the file
};
std::vector<InputLine> read_lines(const std::string& path, int64_t* skipped);
std::string repair_utf8(const std::string& text, const std::string& where);

// (N, D) f32 as NumPy .npy (format 1.0, little-endian '<f4', C order), atomically.
void write_npy(const std::string& path, const Tensor& vectors);
// One {"text": ..., "embedding": [...]} per line, atomically.
void write_jsonl(const std::string& path, const std::vector<std::string>& texts,
                 const Tensor& vectors);

// A stderr progress bar when stderr is a terminal and the work is large; else nothing.
std::function<void(int64_t, int64_t)> progress_bar(const char* label, int64_t total);

}  // namespace ferris::cli
