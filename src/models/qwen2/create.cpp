// create_random_model: seeded random weights, scaled so activations and logits have realistic
// spread (Kaiming-uniform linears, norm weights in [0.5, 1.5), non-zero biases, embeddings whose
// logits have a standard deviation near 4), written with the embedded Qwen tokenizer.
#include "models/qwen2/create.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ferris/assets.h"
#include "ferris/rng.h"
#include "ferris/safetensors.h"
#include "io/files.h"
#include "models/qwen2/weights.h"

namespace ferris::models::qwen2 {

namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Draws one tensor; the range depends on what the tensor is.
Tensor random_tensor(const WeightSlot& slot, const Qwen2Config& c, Rng& rng) {
    float lo, hi;
    if (ends_with(slot.name, "norm.weight")) {
        lo = 0.5f;
        hi = 1.5f;
    } else if (ends_with(slot.name, ".bias")) {
        lo = -0.5f;
        hi = 0.5f;
    } else if (slot.name == "model.embed_tokens.weight" || slot.name == "lm_head.weight") {
        const float a = std::sqrt(3.0f) * 4.0f / std::sqrt(static_cast<float>(c.hidden_size));
        lo = -a;
        hi = a;
    } else {
        const float a = std::sqrt(3.0f / static_cast<float>(slot.shape[1]));
        lo = -a;
        hi = a;
    }
    Tensor t = Tensor::empty(slot.shape, c.dtype);
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
        const float v = rng.uniform(lo, hi);
        switch (c.dtype) {
            case DType::F32:
                t.data<float>()[i] = v;
                break;
            case DType::F16:
                t.data<uint16_t>()[i] = f32_to_f16(v);
                break;
            default:
                t.data<uint16_t>()[i] = f32_to_bf16(v);
                break;
        }
    }
    return t;
}

std::string generation_config(const Qwen2Config& c) {
    nlohmann::json j;
    j["bos_token_id"] = c.bos_token_id;
    j["eos_token_id"] = c.eos_token_ids.size() == 1 ? nlohmann::json(c.eos_token_ids[0])
                                                    : nlohmann::json(c.eos_token_ids);
    j["max_new_tokens"] = 2048;
    j["transformers_version"] = "4.51.0";
    return j.dump(2) + "\n";
}

std::string shard_name(int i, int n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, n);
    return buf;
}

}  // namespace

size_t create_random_model(const std::string& out_dir, const Qwen2Config& config,
                           const CreateOptions& options) {
    if (options.shards < 1 || options.shards > 99)
        fail(ErrorCode::InvalidArgument, "--shards must be 1..99, got ", options.shards);
    if (!is_float(config.dtype))
        fail(ErrorCode::InvalidArgument, "weight dtype ", dtype_name(config.dtype),
             " is not a float type (expected f32, f16 or bf16)");
    std::error_code ec;
    if (fs::exists(out_dir, ec)) {
        if (!fs::is_directory(out_dir, ec))
            fail(ErrorCode::Io, out_dir, ": exists and is not a folder");
        if (!options.overwrite && !fs::is_empty(out_dir, ec))
            fail(ErrorCode::Io, out_dir, ": folder is not empty (pass --force to overwrite)");
    } else if (!fs::create_directories(out_dir, ec)) {
        fail(ErrorCode::Io, out_dir, ": cannot create folder: ", ec.message());
    }

    Qwen2Weights layout;
    std::vector<WeightSlot> slots = weight_slots(config, layout);
    Rng rng(options.seed);
    io::NamedTensors tensors;
    size_t total = 0;
    size_t expected = 0;
    for (const WeightSlot& slot : slots)
        expected += static_cast<size_t>(shape_numel(slot.shape)) * dtype_size(config.dtype);
    for (const WeightSlot& slot : slots) {
        tensors.emplace_back(slot.name, random_tensor(slot, config, rng));
        total += tensors.back().second.nbytes();
        if (options.progress) options.progress(total, expected);
    }

    const std::map<std::string, std::string> meta = {{"format", "pt"}};
    if (options.shards == 1) {
        io::save_safetensors(io::join_path(out_dir, "model.safetensors"), tensors, meta);
    } else {
        nlohmann::json index;
        index["metadata"] = {{"total_size", total}};
        index["weight_map"] = nlohmann::json::object();
        const size_t per_shard = (total + options.shards - 1) / options.shards;
        size_t at = 0;
        for (int s = 1; s <= options.shards; ++s) {
            io::NamedTensors part;
            size_t bytes = 0;
            while (at < tensors.size() && (bytes < per_shard || s == options.shards)) {
                bytes += tensors[at].second.nbytes();
                part.push_back(tensors[at++]);
            }
            const std::string name = shard_name(s, options.shards);
            for (const auto& [tname, t] : part) index["weight_map"][tname] = name;
            io::save_safetensors(io::join_path(out_dir, name), part, meta);
        }
        io::write_file_atomic(io::join_path(out_dir, "model.safetensors.index.json"),
                              index.dump(2) + "\n");
    }
    io::write_file_atomic(io::join_path(out_dir, "config.json"),
                          config.to_json_text(options.transformers5_layout));
    io::write_file_atomic(io::join_path(out_dir, "generation_config.json"),
                          generation_config(config));
    io::write_file_atomic(io::join_path(out_dir, "tokenizer.json"),
                          std::string(assets::qwen_tokenizer_json()));
    io::write_file_atomic(io::join_path(out_dir, "tokenizer_config.json"),
                          std::string(assets::qwen_tokenizer_config_json()));
    return total;
}

}  // namespace ferris::models::qwen2
