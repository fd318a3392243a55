// Encoder forward pass, as transformers' BertModel / MPNetModel (post-LayerNorm blocks):
//   x = LN(word + position [+ token type]) (one fused op);  per layer:
//   x = LN(x + o(attention(q(x), k(x), v(x), padding mask [, relative bias])))
//   x = LN(x + down(gelu(up(x))))
// The batch is packed: sequences back to back with no padding, attention kept within each.
#include <cmath>

#include "models/encoder/model.h"
#include "nn/linear.h"
#include "ops/ops.h"

namespace ferris::models::encoder {

Tensor EncoderModel::forward(const std::vector<std::vector<int32_t>>& batch) const {
    const EncoderConfig& c = config_;
    const int64_t C = c.hidden_size, NH = c.num_attention_heads, HS = c.head_dim;
    if (batch.empty()) fail(ErrorCode::InvalidArgument, "encoder forward: empty batch");

    // The sequences packed back to back (no padding), their positions, and where each starts.
    std::vector<int32_t> ids, positions, starts = {0};
    int64_t longest = 0;
    for (const auto& seq : batch) {
        const int64_t n = static_cast<int64_t>(seq.size());
        if (n == 0 || n > c.max_tokens())
            fail(ErrorCode::InvalidArgument, "encoder forward: a sequence of ", n,
                 " tokens (expected 1..", c.max_tokens(), ")");
        longest = std::max(longest, n);
        int32_t counted = 0;  // MPNet: cumulative count of non-padding ids, after pad_token_id
        for (int64_t t = 0; t < n; ++t) {
            const int32_t id = seq[static_cast<size_t>(t)];
            if (id < 0 || id >= c.vocab_size)
                fail(ErrorCode::InvalidArgument, "encoder forward: token id ", id,
                     " outside the vocabulary of ", c.vocab_size);
            ids.push_back(id);
            if (c.arch == Arch::Bert) {
                positions.push_back(static_cast<int32_t>(t));
            } else {
                const bool real = id != c.pad_token_id;
                counted += real;
                positions.push_back(
                    static_cast<int32_t>(real ? counted + c.pad_token_id : c.pad_token_id));
            }
        }
        starts.push_back(static_cast<int32_t>(ids.size()));
    }
    const int64_t N = static_cast<int64_t>(ids.size());
    const Tensor tokens = ops::to_device(Tensor::from_ints({N}, ids), device_);
    const Tensor pos = ops::to_device(Tensor::from_ints({N}, positions), device_);
    AttentionMask mask;
    mask.causal = false;
    mask.host_segments = Tensor::from_ints({static_cast<int64_t>(starts.size())}, starts);
    mask.segments = ops::to_device(mask.host_segments, device_);
    mask.longest_segment = longest;
    if (c.arch == Arch::MPNet) mask.relative_bias = relative_bias(longest);
    // Half-precision weights let the attention products run in that dtype too (tensor cores);
    // on a GPU the activations are then in that dtype as well (sentence-transformers' .half()),
    // halving their memory traffic. The CPU computes in f32.
    const DType wt = weights_.layers.front().query.weight.dtype();
    const bool half = wt == DType::BF16 || wt == DType::F16;
    if (half) mask.precision = wt;
    const DType act = half && !device_.is_cpu() ? wt : DType::F32;
    const float eps = static_cast<float>(c.layer_norm_eps);
    const float scale = 1.0f / std::sqrt(static_cast<float>(HS));

    std::vector<Tensor> tables = {weights_.word_embeddings, weights_.position_embeddings};
    std::vector<Tensor> lookups = {tokens, pos};
    if (c.arch == Arch::Bert) {  // token type 0 for every token
        tables.push_back(weights_.token_type_embeddings);
        lookups.push_back(
            ops::to_device(Tensor::from_ints({N}, std::vector<int32_t>(N, 0)), device_));
    }
    Tensor x = ops::embedding_layer_norm(tables, lookups, weights_.embed_norm_weight,
                                         weights_.embed_norm_bias, eps, act);  // (N, C)

    for (const LayerWeights& w : weights_.layers) {
        Tensor q, k, v;
        if (w.qkv.weight.defined()) {  // one product; attention reads q, k, v where they lie
            const Tensor qkv = nn::linear(x, w.qkv).reshape({1, N, 3, NH, HS});
            q = qkv.select(2, 0);
            k = qkv.select(2, 1);
            v = qkv.select(2, 2);
        } else {
            q = nn::linear(x, w.query).reshape({1, N, NH, HS});
            k = nn::linear(x, w.key).reshape({1, N, NH, HS});
            v = nn::linear(x, w.value).reshape({1, N, NH, HS});
        }
        Tensor a = ops::attention(q, k, v, mask, scale).reshape({N, C});
        x = ops::add_layer_norm(nn::linear(a, w.attn_out), x, w.attn_norm_weight, w.attn_norm_bias,
                                eps);
        // One op: on an sm_90 GPU the GELU runs in the product's epilogue, so the FFN's widest
        // activation is written once (elsewhere: the product, then the GELU in place).
        const Tensor up = nn::linear_gelu(x, w.mlp_up);
        x = ops::add_layer_norm(nn::linear(up, w.mlp_down), x, w.out_norm_weight, w.out_norm_bias,
                                eps);
    }
    return x;
}

}  // namespace ferris::models::encoder
