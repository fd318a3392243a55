// `ferris inspect`: a model folder's config, tensors, parameter count and memory needs.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common.h"
#include "ferris/safetensors.h"
#include "io/files.h"
#include "models/encoder/config.h"
#include "models/encoder/weights.h"
#include "runtime/sentence_config.h"

namespace ferris::cli {

namespace {

// model_type from config.json, "" when absent or unreadable (the full parse reports why).
std::string model_type_of(const std::string& dir) {
    try {
        auto j = nlohmann::json::parse(io::read_text_file(io::join_path(dir, "config.json")));
        if (j.is_object() && j.contains("model_type") && j["model_type"].is_string())
            return j["model_type"].get<std::string>();
    } catch (const std::exception&) {
    }
    return "";
}

// The encoder part of inspect: config, sentence-transformers settings, weight problems.
nlohmann::json describe_encoder(const std::string& dir, const io::Checkpoint& ckpt) {
    namespace enc = models::encoder;
    const enc::EncoderConfig c = enc::EncoderConfig::from_file(io::join_path(dir, "config.json"));
    const runtime::SentenceConfig sc = runtime::read_sentence_config(dir);
    nlohmann::json j = {{"model_type", enc::arch_name(c.arch)},
                        {"vocab_size", c.vocab_size},
                        {"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size},
                        {"num_hidden_layers", c.num_hidden_layers},
                        {"num_attention_heads", c.num_attention_heads},
                        {"head_dim", c.head_dim},
                        {"max_tokens", c.max_tokens()},
                        {"layer_norm_eps", c.layer_norm_eps},
                        {"dtype", dtype_name(c.dtype)},
                        {"pooling", sc.pooling ? pooling_name(*sc.pooling) : "mean (default)"},
                        {"normalize", sc.normalize.value_or(true)},
                        {"problems", enc::check_weights(c, ckpt)}};
    if (sc.max_seq_length) j["max_seq_length"] = *sc.max_seq_length;
    return j;
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
    struct Opts {
        std::string model;
        bool json = false, tensors = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "inspect",
        "Show a model folder's config, tensors, parameter count and memory needs (Qwen2\n"
        "decoders; BERT/MPNet encoders with their pooling).\n"
        "Example: ferris inspect --model DIR --tensors");
    sub->add_option("--model", o->model, "Hugging Face model folder")->required();
    sub->add_flag("--tensors", o->tensors, "list every tensor");
    sub->add_flag("--json", o->json, "machine-readable output");
    return {
        sub, [o]() {
            using models::qwen2::Qwen2Config;
            const std::string type = model_type_of(o->model);
            const bool encoder = type == "bert" || type == "mpnet";
            Qwen2Config c;
            if (!encoder) c = Qwen2Config::from_file(io::join_path(o->model, "config.json"));
            io::Checkpoint ckpt = io::Checkpoint::open(o->model);
            int64_t params = 0;
            std::map<std::string, size_t> bytes_by_dtype;
            nlohmann::json tensors = nlohmann::json::array();
            for (const std::string& name : ckpt.names()) {
                const io::TensorInfo& t = ckpt.info(name);
                params += shape_numel(t.shape);
                bytes_by_dtype[t.dtype_name] += t.end - t.begin;
                tensors.push_back({{"name", name}, {"dtype", t.dtype_name}, {"shape", t.shape}});
            }
            size_t weight_bytes = 0;
            for (const auto& [k, v] : bytes_by_dtype) weight_bytes += v;
            if (encoder) {
                nlohmann::json j = describe_encoder(o->model, ckpt);
                j["parameters"] = params;
                j["weight_bytes"] = weight_bytes;
                j["files"] = ckpt.files().size();
                if (o->tensors) j["tensors"] = tensors;
                if (o->json) {
                    std::printf("%s\n", j.dump().c_str());
                    return 0;
                }
                std::printf(
                    "%s: %s encoder, %lld layers, hidden %lld, MLP %lld, heads %lld x %lld, "
                    "vocab %lld, up to %lld tokens, dtype %s\n",
                    o->model.c_str(), type == "bert" ? "BERT" : "MPNet",
                    j["num_hidden_layers"].get<long long>(), j["hidden_size"].get<long long>(),
                    j["intermediate_size"].get<long long>(),
                    j["num_attention_heads"].get<long long>(), j["head_dim"].get<long long>(),
                    j["vocab_size"].get<long long>(), j["max_tokens"].get<long long>(),
                    j["dtype"].get<std::string>().c_str());
                std::printf("sentence embeddings: %s pooling, %s, max_seq_length %s\n",
                            j["pooling"].get<std::string>().c_str(),
                            j["normalize"].get<bool>() ? "L2-normalized" : "not normalized",
                            j.contains("max_seq_length")
                                ? std::to_string(j["max_seq_length"].get<long long>()).c_str()
                                : "(model maximum)");
                std::printf("parameters %.2fM in %zu tensors, %zu file(s), weights %.1f MB\n",
                            params / 1e6, ckpt.names().size(), ckpt.files().size(),
                            weight_bytes / 1e6);
                const auto problems = j["problems"].get<std::vector<std::string>>();
                if (problems.empty()) std::printf("weights match the config\n");
                for (const std::string& p : problems) std::printf("  %s\n", p.c_str());
                if (o->tensors)
                    for (const auto& t : tensors)
                        std::printf("  %-60s %-5s %s\n", t["name"].get<std::string>().c_str(),
                                    t["dtype"].get<std::string>().c_str(),
                                    shape_str(t["shape"].get<Shape>()).c_str());
                return 0;
            }
            const int64_t kv_per_token_f16 =
                c.num_hidden_layers * 2 * c.num_key_value_heads * c.head_dim * 2;
            nlohmann::json j = {
                {"model_type", "qwen2"},
                {"vocab_size", c.vocab_size},
                {"hidden_size", c.hidden_size},
                {"intermediate_size", c.intermediate_size},
                {"num_hidden_layers", c.num_hidden_layers},
                {"num_attention_heads", c.num_attention_heads},
                {"num_key_value_heads", c.num_key_value_heads},
                {"head_dim", c.head_dim},
                {"max_position_embeddings", c.max_position_embeddings},
                {"rope_theta", c.rope_theta},
                {"rms_norm_eps", c.rms_norm_eps},
                {"tie_word_embeddings", c.tie_word_embeddings},
                {"dtype", dtype_name(c.dtype)},
                {"parameters", params},
                {"weight_bytes", weight_bytes},
                {"files", ckpt.files().size()},
                {"kv_cache_bytes_per_token_f16", kv_per_token_f16},
            };
            const std::vector<std::string> problems = models::qwen2::check_weights(c, ckpt);
            j["problems"] = problems;
            if (o->tensors) j["tensors"] = tensors;
            if (o->json) {
                std::printf("%s\n", j.dump().c_str());
                return 0;
            }
            std::printf(
                "%s: Qwen2, %lld layers, hidden %lld, MLP %lld, heads %lld (kv %lld) x %lld,"
                " vocab %lld, %s embeddings\n",
                o->model.c_str(), (long long)c.num_hidden_layers, (long long)c.hidden_size,
                (long long)c.intermediate_size, (long long)c.num_attention_heads,
                (long long)c.num_key_value_heads, (long long)c.head_dim, (long long)c.vocab_size,
                c.tie_word_embeddings ? "tied" : "separate");
            std::printf("rope_theta %g, rms_norm_eps %g, context %lld, dtype %s\n", c.rope_theta,
                        c.rms_norm_eps, (long long)c.max_position_embeddings, dtype_name(c.dtype));
            std::printf("parameters %.2fM in %zu tensors, %zu file(s), weights %.1f MB",
                        params / 1e6, ckpt.names().size(), ckpt.files().size(), weight_bytes / 1e6);
            for (const auto& [k, v] : bytes_by_dtype)
                std::printf(" [%s %.1f MB]", k.c_str(), v / 1e6);
            std::printf("\nKV cache (f16) %.1f KB per token, %.1f MB at 2,048 tokens\n",
                        kv_per_token_f16 / 1e3, kv_per_token_f16 * 2048 / 1e6);
            if (problems.empty()) {
                std::printf("weights match the config\n");
            } else {
                std::printf(
                    "%zu problem(s) with the weights (generate and perplexity refuse this "
                    "folder):\n",
                    problems.size());
                for (const std::string& p : problems) std::printf("  %s\n", p.c_str());
            }
            if (o->tensors)
                for (const auto& t : tensors)
                    std::printf("  %-60s %-5s %s\n", t["name"].get<std::string>().c_str(),
                                t["dtype"].get<std::string>().c_str(),
                                shape_str(t["shape"].get<Shape>()).c_str());
            return 0;
        }};
}

}  // namespace ferris::cli
