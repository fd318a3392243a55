// Qwen2 weight mapping and validation (see weights.h).
#include "models/qwen2/weights.h"

#include <set>

#include "models/weight_problems.h"
#include "ops/ops.h"

namespace ferris::models::qwen2 {

nn::LinearWeights* Qwen2Weights::find_linear(const std::string& module) {
    const std::string prefix = "model.layers.";
    if (module.rfind(prefix, 0) != 0) return nullptr;
    size_t dot = module.find('.', prefix.size());
    if (dot == std::string::npos) return nullptr;
    size_t idx = 0;
    try {
        idx = std::stoul(module.substr(prefix.size(), dot - prefix.size()));
    } catch (...) {
        return nullptr;
    }
    if (idx >= layers.size()) return nullptr;
    LayerWeights& l = layers[idx];
    const std::string rest = module.substr(dot + 1);
    if (rest == "self_attn.q_proj") return &l.q_proj;
    if (rest == "self_attn.k_proj") return &l.k_proj;
    if (rest == "self_attn.v_proj") return &l.v_proj;
    if (rest == "self_attn.o_proj") return &l.o_proj;
    if (rest == "mlp.gate_proj") return &l.gate_proj;
    if (rest == "mlp.up_proj") return &l.up_proj;
    if (rest == "mlp.down_proj") return &l.down_proj;
    return nullptr;
}

std::vector<WeightSlot> weight_slots(const Qwen2Config& c, Qwen2Weights& w) {
    const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
    const int64_t Q = c.num_attention_heads * c.head_dim, KV = c.num_key_value_heads * c.head_dim;
    std::vector<WeightSlot> s;
    w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
    s.push_back({"model.embed_tokens.weight", {V, C}, &w.embed_tokens});
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        LayerWeights& l = w.layers[static_cast<size_t>(i)];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        s.push_back({p + "input_layernorm.weight", {C}, &l.input_layernorm});
        s.push_back({p + "self_attn.q_proj.weight", {Q, C}, &l.q_proj.weight});
        s.push_back({p + "self_attn.q_proj.bias", {Q}, &l.q_proj.bias});
        s.push_back({p + "self_attn.k_proj.weight", {KV, C}, &l.k_proj.weight});
        s.push_back({p + "self_attn.k_proj.bias", {KV}, &l.k_proj.bias});
        s.push_back({p + "self_attn.v_proj.weight", {KV, C}, &l.v_proj.weight});
        s.push_back({p + "self_attn.v_proj.bias", {KV}, &l.v_proj.bias});
        s.push_back({p + "self_attn.o_proj.weight", {C, Q}, &l.o_proj.weight});
        s.push_back({p + "post_attention_layernorm.weight", {C}, &l.post_attention_layernorm});
        s.push_back({p + "mlp.gate_proj.weight", {I, C}, &l.gate_proj.weight});
        s.push_back({p + "mlp.up_proj.weight", {I, C}, &l.up_proj.weight});
        s.push_back({p + "mlp.down_proj.weight", {C, I}, &l.down_proj.weight});
    }
    s.push_back({"model.norm.weight", {C}, &w.norm});
    if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", {V, C}, &w.lm_head});
    return s;
}

std::vector<std::string> check_weights(const Qwen2Config& config, const io::Checkpoint& ckpt) {
    Qwen2Weights w;
    std::vector<std::string> problems;
    std::set<std::string> expected;
    for (const WeightSlot& slot : weight_slots(config, w)) {
        expected.insert(slot.name);
        if (!ckpt.has(slot.name)) {
            problems.push_back("missing " + slot.name);
            continue;
        }
        const io::TensorInfo& info = ckpt.info(slot.name);
        if (info.shape != slot.shape) {
            problems.push_back(slot.name + " has shape " + shape_str(info.shape) +
                               ", config implies " + shape_str(slot.shape));
        }
    }
    for (const std::string& name : ckpt.names()) {
        if (expected.count(name)) continue;
        // Tied checkpoints sometimes still carry lm_head; old ones carry rotary buffers.
        if (name == "lm_head.weight" && config.tie_word_embeddings) continue;
        if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;
        problems.push_back("unexpected " + name);
    }
    return problems;
}

Qwen2Weights load_weights(const Qwen2Config& config, const io::Checkpoint& ckpt, DType dtype,
                          Device device) {
    Qwen2Weights w;
    std::vector<WeightSlot> slots = weight_slots(config, w);
    const std::vector<std::string> problems = check_weights(config, ckpt);
    if (!problems.empty()) fail_weight_problems(ckpt, "Qwen2", problems);
    for (const WeightSlot& slot : slots) {
        Tensor t = ckpt.get(slot.name);
        if (!is_float(t.dtype()))
            fail(ErrorCode::DTypeMismatch, slot.name, ": dtype ", dtype_name(t.dtype()),
                 " is not a float type");
        // Matrices compute in `dtype`; vectors (norm weights, biases) are kept in f32, as
        // mixed-precision inference does: no per-call conversion, and f32 is exact for them.
        const DType want = slot.shape.size() == 2 ? dtype : DType::F32;
        if (t.dtype() != want) t = t.to_dtype(want);
        *slot.target = ops::to_device(t, device);
    }
    if (config.tie_word_embeddings) w.lm_head = w.embed_tokens;
    return w;
}

}  // namespace ferris::models::qwen2
