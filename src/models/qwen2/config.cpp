// Qwen2Config parsing (both transformers layouts), validation, serialization and presets.
#include "models/qwen2/config.h"

#include <nlohmann/json.hpp>

#include "ferris/error.h"
#include "io/files.h"
#include "io/json_fields.h"

namespace ferris::models::qwen2 {

namespace {

using nlohmann::json;

// Everything after the JSON parse; json::exception from a wrong type is mapped by the caller.
Qwen2Config config_from_json(const json& j, const std::string& src) {
    const std::string model_type = j.value("model_type", "");
    if (model_type != "qwen2")
        fail(ErrorCode::Unsupported, src, ": model_type '", model_type,
             "' is not a Qwen2 decoder (expected \"qwen2\")");

    Qwen2Config c;
    c.vocab_size = io::json_int(j, "vocab_size", src);
    c.hidden_size = io::json_int(j, "hidden_size", src);
    c.intermediate_size = io::json_int(j, "intermediate_size", src);
    c.num_hidden_layers = io::json_int(j, "num_hidden_layers", src);
    c.num_attention_heads = io::json_int(j, "num_attention_heads", src);
    c.num_key_value_heads =
        io::json_int(j, "num_key_value_heads", src, false, c.num_attention_heads);
    c.max_position_embeddings = io::json_int(j, "max_position_embeddings", src, false, 32768);
    c.rms_norm_eps = io::json_number(j, "rms_norm_eps", src, 1e-6);
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.bos_token_id = io::json_int(j, "bos_token_id", src, false, -1);
    if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
        if (it->is_array()) {
            for (const auto& e : *it) {
                if (!e.is_number_integer())
                    fail(ErrorCode::Parse, src, ": \"eos_token_id\" lists ", e.dump(),
                         ", expected integers");
                c.eos_token_ids.push_back(e.get<int64_t>());
            }
        } else if (it->is_number_integer()) {
            c.eos_token_ids.push_back(it->get<int64_t>());
        } else {
            fail(ErrorCode::Parse, src, ": \"eos_token_id\" must be an integer or a list");
        }
    }

    // transformers 5 moved rope settings into rope_parameters; 4 keeps rope_theta + rope_scaling.
    c.rope_theta = io::json_number(j, "rope_theta", src, 10000.0);
    if (auto rp = j.find("rope_parameters"); rp != j.end() && rp->is_object()) {
        c.rope_theta = io::json_number(*rp, "rope_theta", src, c.rope_theta);
        const std::string kind = rp->value("rope_type", "default");
        if (kind != "default")
            fail(ErrorCode::Unsupported, src, ": rope_parameters.rope_type '", kind,
                 "' is not implemented (only \"default\")");
    }
    if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) {
        const std::string kind = rs->value("rope_type", rs->value("type", std::string("?")));
        if (kind != "default")
            fail(ErrorCode::Unsupported, src, ": rope_scaling type '", kind,
                 "' is not implemented (only unscaled RoPE)");
    }
    if (j.value("use_sliding_window", false))
        fail(ErrorCode::Unsupported, src, ": use_sliding_window=true is not implemented");
    if (j.value("hidden_act", std::string("silu")) != "silu")
        fail(ErrorCode::Unsupported, src, ": hidden_act '", j.value("hidden_act", ""),
             "' (Qwen2 uses silu)");
    std::string dt = j.value("dtype", j.value("torch_dtype", std::string("bfloat16")));
    try {
        c.dtype = parse_dtype(dt);
    } catch (const Error&) {
        fail(ErrorCode::Unsupported, src, ": dtype '", dt,
             "' (expected float32, float16 or bfloat16)");
    }

    auto positive = [&](const char* key, int64_t v) {
        if (v <= 0) fail(ErrorCode::Parse, src, ": \"", key, "\" must be positive, got ", v);
    };
    positive("vocab_size", c.vocab_size);
    positive("hidden_size", c.hidden_size);
    positive("intermediate_size", c.intermediate_size);
    positive("num_hidden_layers", c.num_hidden_layers);
    positive("num_attention_heads", c.num_attention_heads);
    positive("num_key_value_heads", c.num_key_value_heads);
    positive("max_position_embeddings", c.max_position_embeddings);
    // Bounds far above any real checkpoint keep every size product (parameter counts, tensor
    // shapes, KV bytes per token) inside int64 and the per-layer tables small.
    auto at_most = [&](const char* key, int64_t v, int64_t limit) {
        if (v > limit)
            fail(ErrorCode::Parse, src, ": \"", key, "\" is ", v, ", more than the limit of ",
                 limit);
    };
    constexpr int64_t kMaxSize = int64_t{1} << 22, kMaxLayers = 4096;
    at_most("vocab_size", c.vocab_size, kMaxSize);
    at_most("hidden_size", c.hidden_size, kMaxSize);
    at_most("intermediate_size", c.intermediate_size, kMaxSize);
    at_most("num_hidden_layers", c.num_hidden_layers, kMaxLayers);
    at_most("max_position_embeddings", c.max_position_embeddings, int64_t{1} << 31);
    if (c.hidden_size % c.num_attention_heads != 0)
        fail(ErrorCode::Parse, src, ": hidden_size ", c.hidden_size,
             " is not divisible by num_attention_heads ", c.num_attention_heads);
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        fail(ErrorCode::Parse, src, ": num_attention_heads ", c.num_attention_heads,
             " is not a multiple of num_key_value_heads ", c.num_key_value_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
    if (c.head_dim % 2 != 0)
        fail(ErrorCode::Parse, src, ": head size ", c.head_dim, " must be even for RoPE");
    return c;
}

}  // namespace

Qwen2Config Qwen2Config::from_json_text(const std::string& text, const std::string& src) {
    const json j = io::parse_json_object(text, src);
    try {
        return config_from_json(j, src);
    } catch (const json::exception& e) {  // a wrong type behind j.value(), e.g. "hidden_act": 5
        fail(ErrorCode::Parse, src, ": ", e.what());
    }
}

Qwen2Config Qwen2Config::from_file(const std::string& path) {
    return from_json_text(io::read_text_file(path), path);
}

std::string Qwen2Config::to_json_text(bool transformers5_layout) const {
    json j;
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["model_type"] = "qwen2";
    j["attention_dropout"] = 0.0;
    j["bos_token_id"] = bos_token_id;
    if (eos_token_ids.size() == 1) {
        j["eos_token_id"] = eos_token_ids[0];
    } else {
        j["eos_token_id"] = eos_token_ids;
    }
    j["hidden_act"] = "silu";
    j["hidden_size"] = hidden_size;
    j["initializer_range"] = 0.02;
    j["intermediate_size"] = intermediate_size;
    j["max_position_embeddings"] = max_position_embeddings;
    j["max_window_layers"] = num_hidden_layers;
    j["num_attention_heads"] = num_attention_heads;
    j["num_hidden_layers"] = num_hidden_layers;
    j["num_key_value_heads"] = num_key_value_heads;
    j["rms_norm_eps"] = rms_norm_eps;
    j["sliding_window"] = nullptr;
    j["tie_word_embeddings"] = tie_word_embeddings;
    j["use_cache"] = true;
    j["use_sliding_window"] = false;
    j["vocab_size"] = vocab_size;
    const std::string dt = dtype == DType::F32   ? "float32"
                           : dtype == DType::F16 ? "float16"
                                                 : "bfloat16";
    if (transformers5_layout) {
        j["rope_parameters"] = {{"rope_theta", rope_theta}, {"rope_type", "default"}};
        j["dtype"] = dt;
        j["transformers_version"] = "5.0.0";
    } else {
        j["rope_theta"] = rope_theta;
        j["rope_scaling"] = nullptr;
        j["torch_dtype"] = dt;
        j["transformers_version"] = "4.51.0";
    }
    return j.dump(2) + "\n";
}

int64_t Qwen2Config::parameter_count() const {
    const int64_t c = hidden_size, kv = num_key_value_heads * head_dim;
    const int64_t attn = c * c + c + 2 * (kv * c + kv) + c * c;
    const int64_t mlp = 3 * c * intermediate_size;
    const int64_t layer = attn + mlp + 2 * c;
    return vocab_size * c * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + c;
}

Qwen2Config preset(const std::string& name) {
    Qwen2Config c;
    c.vocab_size = 151936;
    c.max_position_embeddings = 32768;
    c.rope_theta = 1000000.0;
    c.rms_norm_eps = 1e-6;
    c.bos_token_id = 151643;
    c.eos_token_ids = {151643};
    c.dtype = DType::BF16;
    auto shape = [&](int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv,
                     bool tie) {
        c.hidden_size = hidden;
        c.intermediate_size = inter;
        c.num_hidden_layers = layers;
        c.num_attention_heads = heads;
        c.num_key_value_heads = kv;
        c.head_dim = hidden / heads;
        c.tie_word_embeddings = tie;
    };
    if (name == "tiny") {
        shape(64, 128, 2, 4, 2, true);
        c.max_position_embeddings = 4096;
    } else if (name == "tiny-untied") {
        shape(32, 96, 3, 2, 1, false);
        c.max_position_embeddings = 4096;
    } else if (name == "small") {
        shape(256, 768, 4, 4, 2, true);
        c.max_position_embeddings = 8192;
    } else if (name == "qwen2.5-0.5b") {
        shape(896, 4864, 24, 14, 2, true);
    } else if (name == "qwen2.5-1.5b") {
        shape(1536, 8960, 28, 12, 2, true);
    } else if (name == "qwen2.5-3b") {
        shape(2048, 11008, 36, 16, 2, true);
    } else if (name == "qwen2.5-7b") {
        shape(3584, 18944, 28, 28, 4, false);
        c.vocab_size = 152064;
    } else {
        std::string names;
        for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
        fail(ErrorCode::InvalidArgument, "unknown preset '", name, "' (one of: ", names, ")");
    }
    return c;
}

std::vector<std::string> preset_names() {
    return {"tiny",         "tiny-untied", "small",     "qwen2.5-0.5b",
            "qwen2.5-1.5b", "qwen2.5-3b",  "qwen2.5-7b"};
}

}  // namespace ferris::models::qwen2
