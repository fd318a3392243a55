// Encoder weight mapping and validation (see weights.h).
#include "models/encoder/weights.h"

#include <set>

#include "models/weight_problems.h"
#include "ops/ops.h"

namespace ferris::models::encoder {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

// Heads and buffers a sentence encoder does not use.
bool ignorable(const std::string& name) {
    return starts_with(name, "pooler.") || starts_with(name, "cls.") ||
           starts_with(name, "lm_head.") || name == "embeddings.position_ids";
}

}  // namespace

std::vector<WeightSlot> weight_slots(const EncoderConfig& c, EncoderWeights& w) {
    const int64_t C = c.hidden_size, I = c.intermediate_size;
    const bool bert = c.arch == Arch::Bert;
    std::vector<WeightSlot> s;
    s.push_back({"embeddings.word_embeddings.weight", {c.vocab_size, C}, &w.word_embeddings});
    s.push_back({"embeddings.position_embeddings.weight",
                 {c.max_position_embeddings, C},
                 &w.position_embeddings});
    if (bert)
        s.push_back({"embeddings.token_type_embeddings.weight",
                     {c.type_vocab_size, C},
                     &w.token_type_embeddings});
    s.push_back({"embeddings.LayerNorm.weight", {C}, &w.embed_norm_weight});
    s.push_back({"embeddings.LayerNorm.bias", {C}, &w.embed_norm_bias});
    w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
    auto linear = [&](const std::string& name, int64_t out, int64_t in, nn::LinearWeights& l) {
        s.push_back({name + ".weight", {out, in}, &l.weight});
        s.push_back({name + ".bias", {out}, &l.bias});
    };
    auto norm = [&](const std::string& name, Tensor& weight, Tensor& bias) {
        s.push_back({name + ".weight", {C}, &weight});
        s.push_back({name + ".bias", {C}, &bias});
    };
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        LayerWeights& l = w.layers[static_cast<size_t>(i)];
        const std::string p = "encoder.layer." + std::to_string(i) + ".";
        if (bert) {
            linear(p + "attention.self.query", C, C, l.query);
            linear(p + "attention.self.key", C, C, l.key);
            linear(p + "attention.self.value", C, C, l.value);
            linear(p + "attention.output.dense", C, C, l.attn_out);
            norm(p + "attention.output.LayerNorm", l.attn_norm_weight, l.attn_norm_bias);
        } else {
            linear(p + "attention.attn.q", C, C, l.query);
            linear(p + "attention.attn.k", C, C, l.key);
            linear(p + "attention.attn.v", C, C, l.value);
            linear(p + "attention.attn.o", C, C, l.attn_out);
            norm(p + "attention.LayerNorm", l.attn_norm_weight, l.attn_norm_bias);
        }
        linear(p + "intermediate.dense", I, C, l.mlp_up);
        linear(p + "output.dense", C, I, l.mlp_down);
        norm(p + "output.LayerNorm", l.out_norm_weight, l.out_norm_bias);
    }
    if (!bert)
        s.push_back({"encoder.relative_attention_bias.weight",
                     {c.relative_attention_num_buckets, c.num_attention_heads},
                     &w.relative_attention_bias});
    return s;
}

std::string checkpoint_prefix(const EncoderConfig& config, const io::Checkpoint& ckpt) {
    const std::string prefix = std::string(arch_name(config.arch)) + ".";
    if (!ckpt.has("embeddings.word_embeddings.weight") &&
        ckpt.has(prefix + "embeddings.word_embeddings.weight"))
        return prefix;
    return "";
}

std::vector<std::string> check_weights(const EncoderConfig& config, const io::Checkpoint& ckpt) {
    EncoderWeights w;
    const std::string prefix = checkpoint_prefix(config, ckpt);
    std::vector<std::string> problems;
    std::set<std::string> expected;
    for (const WeightSlot& slot : weight_slots(config, w)) {
        const std::string name = prefix + slot.name;
        expected.insert(name);
        if (!ckpt.has(name)) {
            problems.push_back("missing " + name);
            continue;
        }
        const io::TensorInfo& info = ckpt.info(name);
        if (info.shape != slot.shape)
            problems.push_back(name + " has shape " + shape_str(info.shape) + ", config implies " +
                               shape_str(slot.shape));
    }
    for (const std::string& name : ckpt.names()) {
        if (expected.count(name)) continue;
        const std::string bare = starts_with(name, prefix) ? name.substr(prefix.size()) : name;
        if (ignorable(bare) || ignorable(name)) continue;
        problems.push_back("unexpected " + name);
    }
    return problems;
}

EncoderWeights load_weights(const EncoderConfig& config, const io::Checkpoint& ckpt, DType dtype,
                            Device device) {
    EncoderWeights w;
    std::vector<WeightSlot> slots = weight_slots(config, w);
    const std::vector<std::string> problems = check_weights(config, ckpt);
    if (!problems.empty())
        fail_weight_problems(ckpt, config.arch == Arch::Bert ? "BERT" : "MPNet", problems);
    const std::string prefix = checkpoint_prefix(config, ckpt);
    for (const WeightSlot& slot : slots) {
        Tensor t = ckpt.get(prefix + slot.name);
        if (!is_float(t.dtype()))
            fail(ErrorCode::DTypeMismatch, prefix + slot.name, ": dtype ", dtype_name(t.dtype()),
                 " is not a float type");
        // Matrices (and embedding tables) compute in `dtype`; vectors and the small bias table
        // stay f32, as mixed-precision inference keeps them.
        const DType want = slot.shape.size() == 2 && slot.target != &w.relative_attention_bias
                               ? dtype
                               : DType::F32;
        if (t.dtype() != want) t = t.to_dtype(want);
        *slot.target = ops::to_device(t, device);
    }
    return w;
}

}  // namespace ferris::models::encoder
