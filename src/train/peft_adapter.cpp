// PEFT adapter loading and attachment (see peft_adapter.h).
#include "train/peft_adapter.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "ferris/safetensors.h"
#include "io/files.h"
#include "io/json_fields.h"
#include "ops/ops.h"

namespace ferris::train {

namespace {
using nlohmann::json;

bool non_empty(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && !it->is_null() && !(it->is_object() && it->empty()) &&
           !(it->is_array() && it->empty()) && !(it->is_boolean() && !it->get<bool>());
}
}  // namespace

float LoraConfig::scale() const {
    return static_cast<float>(use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r))
                                         : lora_alpha / static_cast<double>(r));
}

LoraConfig LoraConfig::from_file(const std::string& path) {
    json j;
    try {
        j = json::parse(io::read_text_file(path));
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, path, ": invalid JSON: ", e.what());
    }
    if (!j.is_object()) fail(ErrorCode::Parse, path, ": not a JSON object");
    std::string type, bias;
    try {  // a wrong type (e.g. "bias": 5) must still name the file
        type = j.value("peft_type", std::string("LORA"));
        bias = j.value("bias", std::string("none"));
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, path, ": ", e.what());
    }
    if (type != "LORA") fail(ErrorCode::Unsupported, path, ": peft_type '", type, "' (only LORA)");
    for (const char* key :
         {"use_dora", "modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform",
          "fan_in_fan_out", "lora_bias", "layer_replication", "trainable_token_indices",
          "target_parameters", "alora_invocation_tokens", "use_bdlora"})
        if (non_empty(j, key))
            fail(ErrorCode::Unsupported, path, ": \"", key, "\" is set; Ferris applies plain LoRA");
    if (bias != "none") fail(ErrorCode::Unsupported, path, ": bias '", bias, "' (only \"none\")");
    LoraConfig c;
    // Typed reads: a rank of 8.5 or 1e300 is refused, not cast (an out-of-range cast is undefined).
    c.r = io::json_int(j, "r", path);
    c.lora_alpha = io::json_number(j, "lora_alpha", path, static_cast<double>(c.r));
    c.lora_dropout = io::json_number(j, "lora_dropout", path, 0.0);
    try {
        c.use_rslora = j.value("use_rslora", false);
        c.base_model_name_or_path = j.value("base_model_name_or_path", std::string());
        if (auto t = j.find("target_modules"); t != j.end() && !t->is_null()) {
            if (t->is_string()) {
                c.target_modules.push_back(t->get<std::string>());
            } else {
                for (const auto& m : *t) c.target_modules.push_back(m.get<std::string>());
            }
        }
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, path, ": ", e.what());
    }
    if (c.r <= 0) fail(ErrorCode::Parse, path, ": r must be positive, got ", c.r);
    return c;
}

PeftAdapter PeftAdapter::load(const std::string& dir) {
    if (!io::is_directory(dir)) fail(ErrorCode::Io, dir, ": not an adapter folder");
    PeftAdapter a;
    a.dir = dir;
    a.config = LoraConfig::from_file(io::join_path(dir, "adapter_config.json"));
    io::Checkpoint ckpt = io::Checkpoint::open(dir, "adapter_model");
    const std::string file = io::join_path(dir, "adapter_model.safetensors");
    const std::string prefix = "base_model.model.";
    std::map<std::string, nn::Lora> found;
    for (const std::string& name : ckpt.names()) {
        std::string module;
        bool is_a = false;
        for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
            const std::string s = suffix;
            if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
                module = name.substr(0, name.size() - s.size());
                is_a = s == ".lora_A.weight";
            }
        }
        if (module.empty() || module.rfind(prefix, 0) != 0)
            fail(ErrorCode::Unsupported, file, ": unexpected tensor ", name,
                 " (expected base_model.model.<module>.lora_{A,B}.weight)");
        module = module.substr(prefix.size());
        Tensor t = ckpt.get(name);
        if (t.dim() != 2 || !is_float(t.dtype()))
            fail(ErrorCode::ShapeMismatch, file, ": ", name, " must be a 2-D float matrix, got ",
                 t.describe());
        const int64_t r = is_a ? t.size(0) : t.size(1);
        if (r != a.config.r)
            fail(ErrorCode::ShapeMismatch, file, ": ", name, " has rank ", r,
                 " but adapter_config.json says r=", a.config.r);
        (is_a ? found[module].a : found[module].b) = t.contiguous();
    }
    for (auto& [module, lora] : found) {
        if (!lora.a.defined() || !lora.b.defined())
            fail(ErrorCode::InvalidArgument, file, ": ", module, " has only one of lora_A/lora_B");
        lora.scale = a.config.scale();
        a.modules.emplace_back(module, lora);
    }
    if (a.modules.empty()) fail(ErrorCode::InvalidArgument, file, ": no LoRA tensors");
    return a;
}

void attach_adapter(models::qwen2::Qwen2Model& model, const PeftAdapter& adapter) {
    const std::string file = io::join_path(adapter.dir, "adapter_model.safetensors");
    for (const auto& [module, lora] : adapter.modules) {
        nn::LinearWeights* lin = model.weights().find_linear(module);
        if (!lin)
            fail(ErrorCode::ShapeMismatch, file, ": adapter targets ", module,
                 ", which this model does not have (", model.config().num_hidden_layers,
                 " layers) — is it an adapter for another model?");
        const int64_t out = lin->weight.size(0), in = lin->weight.size(1);
        if (lora.a.size(1) != in || lora.b.size(0) != out)
            fail(ErrorCode::ShapeMismatch, file, ": ", module, " LoRA is (", lora.b.size(0), " x ",
                 lora.a.size(1), ") but the model's weight is (", out, " x ", in,
                 ") — is it an adapter for another model?");
        nn::Lora l = lora;
        l.a = ops::to_device(lora.a, model.device());
        l.b = ops::to_device(lora.b, model.device());
        lin->lora = l;
    }
}

}  // namespace ferris::train
