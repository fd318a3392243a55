// read_sentence_config: the sentence-transformers module files (see sentence_config.h).
#include "runtime/sentence_config.h"

#include <nlohmann/json.hpp>

#include "ferris/error.h"
#include "io/files.h"

namespace ferris::runtime {

namespace {

using nlohmann::json;

json parse_file(const std::string& path) {
    try {
        return json::parse(io::read_text_file(path));
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, path, ": invalid JSON: ", e.what());
    }
}

Pooling pooling_from_file(const std::string& path) {
    const json j = parse_file(path);
    if (!j.is_object()) fail(ErrorCode::Parse, path, ": not a JSON object");
    auto flag = [&](const char* key) {
        auto it = j.find(key);
        return it != j.end() && it->is_boolean() && it->get<bool>();
    };
    std::vector<Pooling> modes;
    if (flag("pooling_mode_mean_tokens")) modes.push_back(Pooling::Mean);
    if (flag("pooling_mode_cls_token")) modes.push_back(Pooling::Cls);
    if (flag("pooling_mode_max_tokens")) modes.push_back(Pooling::Max);
    for (const char* other : {"pooling_mode_mean_sqrt_len_tokens",
                              "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"})
        if (flag(other)) fail(ErrorCode::Unsupported, path, ": ", other, " is not implemented");
    if (modes.size() != 1)
        fail(ErrorCode::Unsupported, path, ": ", modes.size(),
             " pooling modes are set; exactly one of mean, cls, max is supported");
    return modes[0];
}

}  // namespace

SentenceConfig read_sentence_config(const std::string& dir) {
    SentenceConfig sc;
    const std::string modules_path = io::join_path(dir, "modules.json");
    if (io::path_exists(modules_path)) {
        const json modules = parse_file(modules_path);
        if (!modules.is_array()) fail(ErrorCode::Parse, modules_path, ": not a JSON list");
        sc.normalize = false;
        for (const json& m : modules) {
            if (!m.is_object() || !m.contains("type") || !m["type"].is_string())
                fail(ErrorCode::Parse, modules_path, ": each module needs a \"type\" string");
            const std::string type = m["type"].get<std::string>();
            std::string path;  // the module's folder, relative to dir
            if (auto p = m.find("path"); p != m.end() && !p->is_null()) {
                if (!p->is_string())
                    fail(ErrorCode::Parse, modules_path,
                         ": a module's \"path\" must be a string, got ", p->dump());
                path = p->get<std::string>();
            }
            const std::string kind = type.substr(type.rfind('.') + 1);
            if (kind == "Transformer") continue;
            if (kind == "Pooling") {
                sc.pooling =
                    pooling_from_file(io::join_path(io::join_path(dir, path), "config.json"));
            } else if (kind == "Normalize") {
                sc.normalize = true;
            } else {
                fail(ErrorCode::Unsupported, modules_path, ": module ", type,
                     " is not implemented (Transformer, Pooling and Normalize are)");
            }
        }
    }
    const std::string sbert = io::join_path(dir, "sentence_bert_config.json");
    if (io::path_exists(sbert)) {
        const json j = parse_file(sbert);
        if (auto it = j.find("max_seq_length"); j.is_object() && it != j.end() && !it->is_null()) {
            if (!it->is_number_integer() || it->get<int64_t>() < 1)
                fail(ErrorCode::Parse, sbert, ": \"max_seq_length\" must be a positive integer");
            sc.max_seq_length = it->get<int64_t>();
        }
    }
    return sc;
}

}  // namespace ferris::runtime
