// The search index file (see search_index.h).
#include "search_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "ferris/dtype.h"
#include "ferris/error.h"
#include "ferris/safetensors.h"
#include "io/files.h"

namespace ferris::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "ferris-search-index";
constexpr const char* kVersion = "1";

// FNV-1a, 64 bits: the key a passage's vector is found by. Texts are not adversarial here, and at
// 2^-64 a pair, a million passages collide with odds of ~3e-8.
uint64_t text_hash(std::string_view text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

// [name, size, modification time in ns] of each regular file at the folder's top level (config,
// weights, tokenizer, sentence-transformers modules) and of 1_Pooling/config.json, by name; not
// hidden files (a writer's temporary files) nor `index`, which may be kept in the folder too.
nlohmann::json folder_files(const fs::path& dir, const fs::path& index) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file(ec) && name[0] != '.' && fs::weakly_canonical(e.path(), ec) != index)
            names.push_back(name);
    }
    if (fs::is_regular_file(dir / "1_Pooling" / "config.json", ec))
        names.push_back("1_Pooling/config.json");
    std::sort(names.begin(), names.end());
    nlohmann::json list = nlohmann::json::array();
    for (const std::string& name : names) {
        struct stat st {};
        if (::stat((dir / name).c_str(), &st) != 0) continue;  // gone since it was listed
        const int64_t ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
        list.push_back({name, int64_t{st.st_size}, ns});
    }
    return list;
}

std::string metadata_value(const io::SafetensorsFile& file, const std::string& key) {
    const auto it = file.metadata().find(key);
    return it == file.metadata().end() ? std::string() : it->second;
}

// What an index file holds for `fingerprint`: its vectors (a view of the mapped file) and the row
// of each text hash. Empty, with a notice, when the file was built for something else; throws when
// the file is not an index at all.
struct StoredVectors {
    Tensor vectors;                              // (rows, dim) f32
    std::unordered_map<uint64_t, int64_t> rows;  // text hash -> row
    bool same_rows = false;                      // the same hashes in the same order as now
};

StoredVectors read_index(const std::string& path, const std::string& fingerprint, int64_t dim,
                         const std::vector<uint64_t>& hashes) {
    StoredVectors out;
    if (io::is_directory(path)) fail(ErrorCode::InvalidArgument, "--index ", path, ": a folder");
    std::shared_ptr<io::SafetensorsFile> file;
    try {
        file = io::SafetensorsFile::open(path);
    } catch (const Error& e) {
        fail(ErrorCode::InvalidArgument, "--index ", path, ": not a Ferris search index (",
             e.what(), "); remove it or name another file");
    }
    if (metadata_value(*file, "format") != kFormat)
        fail(ErrorCode::InvalidArgument, "--index ", path,
             ": not a Ferris search index (its metadata has no \"format\": \"", kFormat,
             "\"); remove it or name another file");
    const char* stale = nullptr;
    const io::TensorInfo* vectors = file->find("embeddings");
    const io::TensorInfo* keys = file->find("text_hashes");
    if (metadata_value(*file, "version") != kVersion)
        stale = "was written by another version of Ferris";
    else if (metadata_value(*file, "fingerprint") != fingerprint)
        stale = "was built with other model files or options";
    else if (!vectors || !keys || vectors->dtype_name != "F32" || keys->dtype_name != "I64" ||
             vectors->shape.size() != 2 || vectors->shape[1] != dim || keys->shape.size() != 1 ||
             keys->shape[0] != vectors->shape[0])
        stale = "does not hold (N, D) f32 embeddings and N text hashes";
    if (stale) {
        std::fprintf(stderr, "[ferris] notice: index %s %s: rebuilding it\n", path.c_str(), stale);
        return out;
    }
    out.vectors = file->get("embeddings");
    const float* v = out.vectors.data<float>();
    if (!std::all_of(v, v + out.vectors.numel(), [](float x) { return std::isfinite(x); })) {
        std::fprintf(stderr, "[ferris] notice: index %s holds non-finite values: rebuilding it\n",
                     path.c_str());
        return StoredVectors{};
    }
    const Tensor k = file->get("text_hashes");
    const int64_t n = k.size(0);
    const uint64_t* stored = reinterpret_cast<const uint64_t*>(k.data<int64_t>());
    out.same_rows = n == static_cast<int64_t>(hashes.size()) &&
                    std::equal(hashes.begin(), hashes.end(), stored);
    for (int64_t i = 0; i < n; ++i) out.rows.try_emplace(stored[i], i);
    return out;
}

}  // namespace

std::string index_fingerprint(const std::string& model_dir, const std::string& index_path,
                              const EmbeddingModel& model, const std::string& dtype,
                              const std::string& passage_prefix) {
    std::error_code ec;
    const fs::path dir = fs::weakly_canonical(model_dir, ec);
    const nlohmann::json j = {
        {"model", dir.string()},
        {"files", folder_files(dir, fs::weakly_canonical(index_path, ec))},
        {"pooling", pooling_name(model.pooling())},
        {"normalize", model.normalize()},
        {"max_length", model.max_length()},
        {"dtype", dtype.empty() ? "stored" : dtype_name(parse_dtype(dtype))},  // f16 = float16
        {"device", model.device().is_cpu() ? "cpu" : "cuda"},
        {"passage_prefix", passage_prefix},
    };
    return j.dump();
}

Tensor indexed_passage_vectors(const std::string& index_path, const std::string& fingerprint,
                               const EmbeddingModel& model,
                               const std::vector<std::string>& passages, const std::string& prefix,
                               const std::function<void(int64_t, int64_t)>& progress,
                               IndexUse* use) {
    const int64_t n = static_cast<int64_t>(passages.size()), dim = model.dim();
    std::vector<uint64_t> hashes(passages.size());
    for (size_t i = 0; i < passages.size(); ++i) hashes[i] = text_hash(passages[i]);

    StoredVectors stored;
    if (io::path_exists(index_path)) {
        stored = read_index(index_path, fingerprint, dim, hashes);
    } else {
        // Found out now rather than after the embedding: where the file would go.
        std::error_code ec;
        const fs::path parent = fs::absolute(index_path, ec).parent_path();
        if (!fs::is_directory(parent, ec))
            fail(ErrorCode::Io, "--index ", index_path, ": folder ", parent.string(),
                 " does not exist");
    }

    Tensor out = Tensor::empty({n, dim}, DType::F32);
    float* rows = out.data<float>();
    std::vector<std::string> missing;
    std::vector<int64_t> missing_rows;
    for (int64_t i = 0; i < n; ++i) {
        const auto it = stored.rows.find(hashes[static_cast<size_t>(i)]);
        if (it == stored.rows.end()) {
            missing.push_back(passages[static_cast<size_t>(i)]);
            missing_rows.push_back(i);
        } else {
            std::memcpy(rows + i * dim, stored.vectors.data<float>() + it->second * dim,
                        sizeof(float) * size_t(dim));
        }
    }
    if (!missing.empty()) {
        const Tensor fresh = model.encode(missing, prefix, nullptr, progress);
        for (size_t j = 0; j < missing.size(); ++j)
            std::memcpy(rows + missing_rows[j] * dim, fresh.data<float>() + int64_t(j) * dim,
                        sizeof(float) * size_t(dim));
    }

    IndexUse u;
    u.reused = n - static_cast<int64_t>(missing.size());
    u.embedded = static_cast<int64_t>(missing.size());
    // Rewritten when a passage was embedded or the corpus' rows differ from the file's (lines
    // removed or moved): the file always mirrors the last corpus searched.
    if (!missing.empty() || !stored.same_rows) {
        Tensor keys = Tensor::empty({n}, DType::I64);
        std::memcpy(keys.raw(), hashes.data(), sizeof(uint64_t) * hashes.size());
        io::save_safetensors(
            index_path, {{"embeddings", out}, {"text_hashes", keys}},
            {{"format", kFormat}, {"version", kVersion}, {"fingerprint", fingerprint}});
        u.written = true;
    }
    if (use) *use = u;
    return out;
}

}  // namespace ferris::cli
