// Shared by `embed` and `search` (see embed_common.h).
#include "embed_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common.h"
#include "ferris/threads.h"
#include "io/files.h"
#include "tokenizers/pipeline.h"

namespace ferris::cli {

void EncoderOptions::add_to(CLI::App* app) {
    app->add_option("--model", model_dir,
                    "encoder folder: config.json (bert or mpnet), *.safetensors, tokenizer.json;\n"
                    "sentence-transformers files (modules.json, 1_Pooling) are read when present")
        ->required();
    app->add_option("--model-type", model_type,
                    "auto, e5-small-v2, all-minilm-l6-v2 or all-mpnet-base-v2: fills in what\n"
                    "the folder does not say (pooling, max length, E5's query:/passage: prompts)")
        ->check(parsed_by(parse_embedding_model_type))
        ->capture_default_str();
    app->add_option("--device", device, "cpu, cuda, cuda:N or auto (GPU when present)")
        ->check(parsed_by(parse_device))
        ->capture_default_str();
    app->add_option("--dtype", dtype, "compute dtype: f32, f16 or bf16 (default: as stored)")
        ->check(parsed_by(parse_dtype));
    app->add_option("--pooling", pooling,
                    "mean, cls or max (default: 1_Pooling/config.json, else mean)")
        ->check(parsed_by(parse_pooling));
    app->add_flag("--no-normalize", no_normalize, "keep raw pooled vectors (no L2 normalization)");
    app->add_option("--max-length", max_length,
                    "truncate texts to N tokens, special tokens included (default: the model's)");
    app->add_option("--batch-tokens", batch_tokens,
                    "tokens per forward batch, texts packed without padding (0: 32768 on a GPU, "
                    "16384 on the CPU)")
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
        ->capture_default_str();
    app->add_option("--threads", threads,
                    "CPU threads for the CPU ops and tokenizing (0 = all cores; work goes to "
                    "the threads that are running, so all cores suit a busy host too)")
        ->capture_default_str();
}

EmbeddingModel EncoderOptions::load(bool quiet) const {
    set_num_threads(threads);
    std::string notice;
    const DeviceRequest req = parse_device(device);
    EmbeddingOptions eo;
    eo.device = resolve_device(req, &notice);
    if (req.automatic && !quiet) std::fprintf(stderr, "[ferris] %s\n", notice.c_str());
    if (!dtype.empty()) eo.dtype = parse_dtype(dtype);
    eo.type = parse_embedding_model_type(model_type);
    if (!pooling.empty()) eo.pooling = parse_pooling(pooling);
    if (no_normalize) eo.normalize = false;
    if (max_length > 0) eo.max_length = max_length;
    eo.batch_tokens = batch_tokens;
    return EmbeddingModel::from_dir(model_dir, eo);
}

std::string repair_utf8(const std::string& text, const std::string& where) {
    size_t replaced = 0;
    std::string fixed = replace_invalid_utf8(text, &replaced);
    if (replaced)
        std::fprintf(stderr,
                     "[ferris] warning: %s: %zu invalid UTF-8 sequence(s) replaced by U+FFFD\n",
                     where.c_str(), replaced);
    return fixed;
}

std::vector<InputLine> read_lines(const std::string& path, int64_t* skipped) {
    const std::string data = io::read_text_file(path);
    std::vector<InputLine> lines;
    int64_t blank = 0, number = 0;
    size_t at = 0;
    while (at < data.size()) {
        size_t end = data.find('\n', at);
        if (end == std::string::npos) end = data.size();
        std::string line = data.substr(at, end - at);
        at = end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) {
            ++blank;
            continue;
        }
        lines.push_back({repair_utf8(line, path + ":" + std::to_string(number)), number});
    }
    if (skipped) *skipped = blank;
    return lines;
}

void write_npy(const std::string& path, const Tensor& v) {
    char dict[128];
    std::snprintf(dict, sizeof dict,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                  static_cast<long long>(v.size(0)), static_cast<long long>(v.size(1)));
    std::string header = dict;
    // Magic (6) + version (2) + length (2) + header, padded with spaces to 64 bytes, then '\n'.
    const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
    header.append(total - 10 - header.size() - 1, ' ');
    header.push_back('\n');
    io::AtomicFileWriter w(path);
    const uint16_t len = static_cast<uint16_t>(header.size());
    w.write("\x93NUMPY\x01\x00", 8);
    const unsigned char le[2] = {static_cast<unsigned char>(len & 0xFF),
                                 static_cast<unsigned char>(len >> 8)};
    w.write(le, 2);
    w.write(header);
    w.write(v.raw(), v.nbytes());
    w.commit();
}

void write_jsonl(const std::string& path, const std::vector<std::string>& texts, const Tensor& v) {
    io::AtomicFileWriter w(path);
    const int64_t D = v.size(1);
    for (size_t i = 0; i < texts.size(); ++i) {
        const float* row = v.data<float>() + static_cast<int64_t>(i) * D;
        nlohmann::json j;
        j["text"] = texts[i];
        j["embedding"] = std::vector<float>(row, row + D);
        w.write(j.dump() + "\n");
    }
    w.commit();
}

std::function<void(int64_t, int64_t)> progress_bar(const char* label, int64_t total) {
    if (!::isatty(2) || total < 256) return {};
    return [label, last = -1](int64_t done, int64_t all) mutable {
        const int pct = static_cast<int>(100.0 * static_cast<double>(done) /
                                         static_cast<double>(std::max<int64_t>(all, 1)));
        if (pct == last) return;
        last = pct;
        std::fprintf(stderr, "\r[ferris] %s [%-40s] %3d%% (%lld/%lld)", label,
                     std::string(static_cast<size_t>(pct * 40 / 100), '#').c_str(), pct,
                     static_cast<long long>(done), static_cast<long long>(all));
        if (done >= all) std::fprintf(stderr, "\n");
    };
}

}  // namespace ferris::cli
