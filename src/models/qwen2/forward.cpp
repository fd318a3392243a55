// Qwen2 forward pass, layer by layer as in the paper / transformers' Qwen2DecoderLayer:
//   x += o_proj(attention(rope(q), rope(k), v));  x += down(silu(gate(h)) * up(h))
// with RMSNorm before each block. Reads as named op calls only.
#include <cmath>

#include "models/qwen2/model.h"
#include "ops/ops.h"

namespace ferris::models::qwen2 {

namespace {
// Half-precision weights let the attention products run in that dtype too (AttentionMask).
DType attention_precision(DType weights) {
    return weights == DType::BF16 || weights == DType::F16 ? weights : DType::F32;
}
bool has_adapter(const nn::LinearWeights& w) { return w.lora.has_value(); }

// The stacked q/k/v product applies unless an adapter sits on one of the three.
bool fused_qkv(const LayerWeights& w) {
    return w.qkv_proj.weight.defined() && !has_adapter(w.q_proj) && !has_adapter(w.k_proj) &&
           !has_adapter(w.v_proj);
}

// The whole layer stack as one op (decoder_layers_) applies when no layer has an adapter.
bool fused_stack(const std::vector<LayerWeights>& layers) {
    for (const LayerWeights& w : layers)
        if (!fused_qkv(w) || has_adapter(w.o_proj) || has_adapter(w.gate_proj) ||
            has_adapter(w.up_proj) || has_adapter(w.down_proj))
            return false;
    return true;
}

// The layers' tensors for decoder_layers_ (no adapters), and what their step shares.
std::vector<DecoderLayer> decoder_stack(const Qwen2Config& c, const Qwen2Weights& weights,
                                        nn::KvCache& cache) {
    std::vector<DecoderLayer> layers;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& w = weights.layers[static_cast<size_t>(l)];
        layers.push_back({w.input_layernorm, w.qkv_proj.weight, w.qkv_proj.bias, w.o_proj.weight,
                          w.post_attention_layernorm, w.gate_proj.weight, w.up_proj.weight,
                          w.down_proj.weight, cache.all_keys(l), cache.all_values(l)});
    }
    return layers;
}

DecoderStep decoder_step(const Qwen2Config& c, const Tensor& position, const Tensor& keys) {
    DecoderStep step;
    step.heads = c.num_attention_heads;
    step.eps = static_cast<float>(c.rms_norm_eps);
    step.theta = static_cast<float>(c.rope_theta);
    step.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    step.position = position;
    step.key_count = keys;
    return step;
}
}  // namespace

// Pre-norm, q/k/v projections and rope for rows x (T, C) at `positions` (T) i32 on the device:
// keys and values go into the cache at those positions, the rotated queries (T, NH, HS) are
// returned. With the stacked q/k/v product (GPU, no adapter on q/k/v): one op, for decode one
// kernel.
Tensor Qwen2Model::queries_and_cache_write(int64_t l, const Tensor& x, const Tensor& positions,
                                           nn::KvCache& cache) const {
    const Qwen2Config& c = config_;
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    const int64_t T = x.size(0), NH = c.num_attention_heads, NKV = c.num_key_value_heads,
                  HS = c.head_dim;
    const float theta = static_cast<float>(c.rope_theta);
    const float eps = static_cast<float>(c.rms_norm_eps);
    if (fused_qkv(w)) {
        Tensor keys = cache.all_keys(l), values = cache.all_values(l);
        return ops::rms_norm_qkv_rope(x, w.input_layernorm, eps, w.qkv_proj.weight, w.qkv_proj.bias,
                                      NH, keys, values, positions, theta);
    }
    const Tensor h = ops::rms_norm(x, w.input_layernorm, eps);
    Tensor q = nn::linear(h, w.q_proj).reshape({T, NH, HS});
    Tensor k = nn::linear(h, w.k_proj).reshape({T, NKV, HS});
    const Tensor v = nn::linear(h, w.v_proj).reshape({T, NKV, HS});
    ops::rope_(q, positions, theta);
    ops::rope_(k, positions, theta);
    cache.write_at(l, k.reshape({1, T, NKV, HS}), v.reshape({1, T, NKV, HS}), positions);
    return q;
}

Tensor Qwen2Model::forward_hidden(const std::vector<int32_t>& ids, nn::KvCache& cache) const {
    const Qwen2Config& c = config_;
    const int64_t T = static_cast<int64_t>(ids.size());
    const int64_t NH = c.num_attention_heads, HS = c.head_dim;
    const int64_t start = cache.length();
    if (T == 0) fail(ErrorCode::InvalidArgument, "forward: no tokens");
    if (start + T > cache.capacity())
        fail(ErrorCode::InvalidArgument, "sequence of ", start + T,
             " tokens exceeds the context of ", cache.capacity());
    const float eps = static_cast<float>(c.rms_norm_eps);
    const float scale = 1.0f / std::sqrt(static_cast<float>(HS));

    std::vector<int32_t> pos_host(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos_host[t] = static_cast<int32_t>(start + t);
    const Tensor positions = ops::to_device(Tensor::from_ints({T}, pos_host), device_);
    const Tensor tokens = ops::to_device(Tensor::from_ints({T}, ids), device_);
    AttentionMask mask;  // causal, after the `start` cached positions
    mask.q_offset = start;
    mask.precision = attention_precision(weights_.layers.front().q_proj.weight.dtype());

    Tensor x = ops::embedding(weights_.embed_tokens, tokens);  // (T, C)
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];

        const Tensor q = queries_and_cache_write(l, x, positions, cache);  // (T, NH, HS)
        Tensor a = ops::attention(q.reshape({1, T, NH, HS}), cache.keys(l, start + T),
                                  cache.values(l, start + T), mask, scale);
        ops::add_(x, nn::linear(a.reshape({T, NH * HS}), w.o_proj));

        Tensor h = ops::rms_norm(x, w.post_attention_layernorm, eps);
        Tensor m = ops::silu_mul(nn::linear(h, w.gate_proj), nn::linear(h, w.up_proj));
        ops::add_(x, nn::linear(m, w.down_proj));
    }
    cache.advance(T);
    return ops::rms_norm(x, weights_.norm, eps);
}

Tensor Qwen2Model::forward_step(const Tensor& token, const Tensor& position, const Tensor& keys,
                                nn::KvCache& cache, bool whole_stack) const {
    const Qwen2Config& c = config_;
    const int64_t NH = c.num_attention_heads, HS = c.head_dim;
    const float eps = static_cast<float>(c.rms_norm_eps);
    const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
    AttentionMask mask;  // causal over the whole cache, cut at `keys` on the device
    mask.q_offset = cache.capacity() - 1;
    mask.key_lengths = keys;

    Tensor x = ops::embedding(weights_.embed_tokens, token);  // (1, C)
    if (whole_stack && fused_stack(weights_.layers)) {
        ops::decoder_layers_(x, decoder_stack(c, weights_, cache), decoder_step(c, position, keys));
        return ops::rms_norm_linear(x, weights_.norm, eps, weights_.lm_head);
    }
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];

        const Tensor q = queries_and_cache_write(l, x, position, cache);  // (1, NH, HS)
        Tensor a = ops::attention(q.reshape({1, 1, NH, HS}), cache.all_keys(l), cache.all_values(l),
                                  mask, scale);
        nn::linear_add_(x, a.reshape({1, NH * HS}), w.o_proj);

        if (has_adapter(w.gate_proj) || has_adapter(w.up_proj)) {
            const Tensor h = ops::rms_norm(x, w.post_attention_layernorm, eps);
            nn::linear_add_(x, nn::swiglu(h, w.gate_proj, w.up_proj), w.down_proj);
        } else {
            nn::linear_add_(x,
                            ops::rms_norm_swiglu(x, w.post_attention_layernorm, eps,
                                                 w.gate_proj.weight, w.up_proj.weight),
                            w.down_proj);
        }
    }
    return ops::rms_norm_linear(x, weights_.norm, eps, weights_.lm_head);
}

Tensor Qwen2Model::forward_step_greedy(Tensor& token, const Tensor& position, const Tensor& keys,
                                       nn::KvCache& cache) const {
    // The op wants the embedding and the LM head in the layers' dtype (a checkpoint may keep
    // them apart, e.g. f32 on request).
    auto head_fits = [&] {
        const DType dt = weights_.layers.front().qkv_proj.weight.dtype();
        return weights_.embed_tokens.dtype() == dt && weights_.lm_head.dtype() == dt &&
               weights_.embed_tokens.is_contiguous() && weights_.lm_head.is_contiguous();
    };
    if (weights_.layers.empty() || !fused_stack(weights_.layers) || !head_fits()) {
        Tensor logits = forward_step(token, position, keys, cache, true);
        ops::argmax_(token, logits);
        return logits;
    }
    Tensor x = ops::empty({1, config_.hidden_size}, DType::F32, device_);
    return ops::decoder_greedy_step_(
        token, x, {weights_.embed_tokens, weights_.norm, weights_.lm_head},
        decoder_stack(config_, weights_, cache), decoder_step(config_, position, keys));
}

Tensor Qwen2Model::logits(const Tensor& hidden) const {
    return ops::linear(hidden, weights_.lm_head);
}

Tensor Qwen2Model::forward_last(const std::vector<int32_t>& ids, nn::KvCache& cache) const {
    Tensor h = forward_hidden(ids, cache);
    return logits(h.narrow(0, h.size(0) - 1, 1));
}

}  // namespace ferris::models::qwen2
