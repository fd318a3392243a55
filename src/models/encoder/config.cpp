// EncoderConfig parsing, validation, serialization and presets.
#include "models/encoder/config.h"

#include <nlohmann/json.hpp>

#include "ferris/error.h"
#include "io/files.h"
#include "io/json_fields.h"

namespace ferris::models::encoder {

namespace {

using nlohmann::json;

EncoderConfig config_from_json(const json& j, const std::string& src) {
    const std::string model_type = j.value("model_type", "");
    EncoderConfig c;
    if (model_type == "bert") {
        c.arch = Arch::Bert;
    } else if (model_type == "mpnet") {
        c.arch = Arch::MPNet;
    } else {
        fail(ErrorCode::Unsupported, src, ": model_type '", model_type,
             "' is not a supported sentence encoder (expected \"bert\" or \"mpnet\")");
    }
    const bool bert = c.arch == Arch::Bert;
    c.vocab_size = io::json_int(j, "vocab_size", src);
    c.hidden_size = io::json_int(j, "hidden_size", src);
    c.intermediate_size = io::json_int(j, "intermediate_size", src);
    c.num_hidden_layers = io::json_int(j, "num_hidden_layers", src);
    c.num_attention_heads = io::json_int(j, "num_attention_heads", src);
    c.max_position_embeddings =
        io::json_int(j, "max_position_embeddings", src, false, bert ? 512 : 514);
    c.pad_token_id = io::json_int(j, "pad_token_id", src, false, bert ? 0 : 1);
    c.layer_norm_eps = io::json_number(j, "layer_norm_eps", src, bert ? 1e-12 : 1e-5);
    if (bert) {
        c.type_vocab_size = io::json_int(j, "type_vocab_size", src, false, 2);
        const std::string pos = j.value("position_embedding_type", std::string("absolute"));
        if (pos != "absolute")
            fail(ErrorCode::Unsupported, src, ": position_embedding_type '", pos,
                 "' is not implemented (only \"absolute\")");
        if (j.value("is_decoder", false) || j.value("add_cross_attention", false))
            fail(ErrorCode::Unsupported, src, ": BERT as a decoder is not supported");
    } else {
        c.type_vocab_size = 0;
        c.relative_attention_num_buckets =
            io::json_int(j, "relative_attention_num_buckets", src, false, 32);
    }
    const std::string act = j.value("hidden_act", std::string("gelu"));
    if (act != "gelu")
        fail(ErrorCode::Unsupported, src, ": hidden_act '", act,
             "' is not implemented (only the exact \"gelu\")");
    const std::string dt = j.value("dtype", j.value("torch_dtype", std::string("float32")));
    try {
        c.dtype = parse_dtype(dt);
    } catch (const Error&) {
        fail(ErrorCode::Unsupported, src, ": dtype '", dt,
             "' (expected float32, float16 or bfloat16)");
    }

    auto in_range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) {
        if (v < lo || v > hi)
            fail(ErrorCode::Parse, src, ": \"", key, "\" is ", v, ", expected ", lo, "..", hi);
    };
    constexpr int64_t kMaxSize = int64_t{1} << 22;
    in_range("vocab_size", c.vocab_size, 1, kMaxSize);
    in_range("hidden_size", c.hidden_size, 1, kMaxSize);
    in_range("intermediate_size", c.intermediate_size, 1, kMaxSize);
    in_range("num_hidden_layers", c.num_hidden_layers, 1, 4096);
    in_range("num_attention_heads", c.num_attention_heads, 1, c.hidden_size);
    in_range("max_position_embeddings", c.max_position_embeddings, 1, int64_t{1} << 20);
    in_range("pad_token_id", c.pad_token_id, 0, c.vocab_size - 1);
    if (bert) in_range("type_vocab_size", c.type_vocab_size, 1, 1024);
    if (!bert)
        in_range("relative_attention_num_buckets", c.relative_attention_num_buckets, 2, 1024);
    if (c.hidden_size % c.num_attention_heads != 0)
        fail(ErrorCode::Parse, src, ": hidden_size ", c.hidden_size,
             " is not divisible by num_attention_heads ", c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
    if (!bert && c.max_tokens() < 1)
        fail(ErrorCode::Parse, src, ": max_position_embeddings ", c.max_position_embeddings,
             " leaves no position after pad_token_id ", c.pad_token_id);
    return c;
}

}  // namespace

const char* arch_name(Arch arch) { return arch == Arch::Bert ? "bert" : "mpnet"; }

EncoderConfig EncoderConfig::from_json_text(const std::string& text, const std::string& src) {
    const json j = io::parse_json_object(text, src);
    try {
        return config_from_json(j, src);
    } catch (const json::exception& e) {  // a wrong type behind j.value()
        fail(ErrorCode::Parse, src, ": ", e.what());
    }
}

EncoderConfig EncoderConfig::from_file(const std::string& path) {
    return from_json_text(io::read_text_file(path), path);
}

int64_t EncoderConfig::max_tokens() const {
    return arch == Arch::Bert ? max_position_embeddings
                              : max_position_embeddings - pad_token_id - 1;
}

std::string EncoderConfig::to_json_text() const {
    json j;
    const bool bert = arch == Arch::Bert;
    j["architectures"] = {bert ? "BertModel" : "MPNetModel"};
    j["model_type"] = arch_name(arch);
    j["attention_probs_dropout_prob"] = 0.1;
    j["hidden_act"] = "gelu";
    j["hidden_dropout_prob"] = 0.1;
    j["hidden_size"] = hidden_size;
    j["initializer_range"] = 0.02;
    j["intermediate_size"] = intermediate_size;
    j["layer_norm_eps"] = layer_norm_eps;
    j["max_position_embeddings"] = max_position_embeddings;
    j["num_attention_heads"] = num_attention_heads;
    j["num_hidden_layers"] = num_hidden_layers;
    j["pad_token_id"] = pad_token_id;
    if (bert) {
        j["position_embedding_type"] = "absolute";
        j["type_vocab_size"] = type_vocab_size;
    } else {
        j["bos_token_id"] = 0;
        j["eos_token_id"] = 2;
        j["relative_attention_num_buckets"] = relative_attention_num_buckets;
    }
    j["torch_dtype"] = dtype == DType::F32   ? "float32"
                       : dtype == DType::F16 ? "float16"
                                             : "bfloat16";
    j["transformers_version"] = "4.51.0";
    j["vocab_size"] = vocab_size;
    return j.dump(2) + "\n";
}

int64_t EncoderConfig::parameter_count() const {
    const int64_t c = hidden_size, i = intermediate_size;
    const int64_t layer = 4 * (c * c + c) + 2 * c * i + i + c + 4 * c;
    int64_t emb = vocab_size * c + max_position_embeddings * c + 2 * c;
    if (arch == Arch::Bert)
        emb += type_vocab_size * c;
    else
        emb += relative_attention_num_buckets * num_attention_heads;
    return emb + num_hidden_layers * layer;
}

EncoderConfig preset(Arch arch, const std::string& name) {
    EncoderConfig c;
    c.arch = arch;
    const bool bert = arch == Arch::Bert;
    c.vocab_size = bert ? 30522 : 30527;
    c.max_position_embeddings = bert ? 512 : 514;
    c.pad_token_id = bert ? 0 : 1;
    c.layer_norm_eps = bert ? 1e-12 : 1e-5;
    c.type_vocab_size = bert ? 2 : 0;
    auto shape = [&](int64_t hidden, int64_t inter, int64_t layers, int64_t heads) {
        c.hidden_size = hidden;
        c.intermediate_size = inter;
        c.num_hidden_layers = layers;
        c.num_attention_heads = heads;
        c.head_dim = hidden / heads;
    };
    if (name == "tiny") {
        shape(32, 64, 2, 4);
    } else if (bert && name == "e5-small-v2") {
        shape(384, 1536, 12, 12);
    } else if (bert && name == "all-minilm-l6-v2") {
        shape(384, 1536, 6, 12);
    } else if (!bert && name == "all-mpnet-base-v2") {
        shape(768, 3072, 12, 12);
    } else {
        std::string names;
        for (const auto& n : preset_names(arch)) names += (names.empty() ? "" : ", ") + n;
        fail(ErrorCode::InvalidArgument, "unknown ", arch_name(arch), " preset '", name,
             "' (one of: ", names, ")");
    }
    return c;
}

std::vector<std::string> preset_names(Arch arch) {
    if (arch == Arch::Bert) return {"tiny", "e5-small-v2", "all-minilm-l6-v2"};
    return {"tiny", "all-mpnet-base-v2"};
}

}  // namespace ferris::models::encoder
