// Encoder forward pass, as transformers' BertModel / MPNetModel (post-LayerNorm blocks):
//   x = LN(word + position [+ token type]);  per layer:
//   x = LN(x + o(attention(q(x), k(x), v(x), padding mask [, relative bias])))
//   x = LN(x + down(gelu(up(x))))
#include <cmath>

#include "models/encoder/model.h"
#include "nn/linear.h"
#include "ops/ops.h"

namespace ferris::models::encoder {

Tensor EncoderModel::forward(const std::vector<std::vector<int32_t>>& batch) const {
    const EncoderConfig& c = config_;
    const int64_t B = static_cast<int64_t>(batch.size());
    const int64_t C = c.hidden_size, NH = c.num_attention_heads, HS = c.head_dim;
    if (B == 0) fail(ErrorCode::InvalidArgument, "encoder forward: empty batch");
    int64_t T = 0;
    for (const auto& ids : batch) {
        const int64_t n = static_cast<int64_t>(ids.size());
        if (n == 0 || n > c.max_tokens())
            fail(ErrorCode::InvalidArgument, "encoder forward: a sequence of ", n,
                 " tokens (expected 1..", c.max_tokens(), ")");
        T = std::max(T, n);
    }

    // Right-padded ids, their positions, and each row's length.
    std::vector<int32_t> ids(static_cast<size_t>(B * T), static_cast<int32_t>(c.pad_token_id));
    std::vector<int32_t> positions(static_cast<size_t>(B * T));
    std::vector<int32_t> lengths(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
        const auto& seq = batch[static_cast<size_t>(b)];
        lengths[b] = static_cast<int32_t>(seq.size());
        int32_t counted = 0;  // MPNet: cumulative count of non-padding ids, after pad_token_id
        for (int64_t t = 0; t < T; ++t) {
            const size_t i = static_cast<size_t>(b * T + t);
            if (t < lengths[b]) ids[i] = seq[static_cast<size_t>(t)];
            if (ids[i] < 0 || ids[i] >= c.vocab_size)
                fail(ErrorCode::InvalidArgument, "encoder forward: token id ", ids[i],
                     " outside the vocabulary of ", c.vocab_size);
            if (c.arch == Arch::Bert) {
                positions[i] = static_cast<int32_t>(t);
            } else {
                const bool real = ids[i] != c.pad_token_id;
                counted += real;
                positions[i] = static_cast<int32_t>(real ? counted + c.pad_token_id
                                                         : c.pad_token_id);
            }
        }
    }
    const Tensor tokens = ops::to_device(Tensor::from_ints({B * T}, ids), device_);
    const Tensor pos = ops::to_device(Tensor::from_ints({B * T}, positions), device_);
    AttentionMask mask;
    mask.causal = false;
    mask.key_lengths = ops::to_device(Tensor::from_ints({B}, lengths), device_);
    if (c.arch == Arch::MPNet) mask.relative_bias = relative_bias(T);
    const float eps = static_cast<float>(c.layer_norm_eps);
    const float scale = 1.0f / std::sqrt(static_cast<float>(HS));

    Tensor x = ops::embedding(weights_.word_embeddings, tokens);  // (B*T, C)
    ops::add_(x, ops::embedding(weights_.position_embeddings, pos));
    if (c.arch == Arch::Bert) {  // token type 0 for every token
        const Tensor zeros =
            ops::to_device(Tensor::from_ints({B * T}, std::vector<int32_t>(B * T, 0)), device_);
        ops::add_(x, ops::embedding(weights_.token_type_embeddings, zeros));
    }
    x = ops::layer_norm(x, weights_.embed_norm_weight, weights_.embed_norm_bias, eps);

    for (const LayerWeights& w : weights_.layers) {
        Tensor q = nn::linear(x, w.query).reshape({B, T, NH, HS});
        Tensor k = nn::linear(x, w.key).reshape({B, T, NH, HS});
        Tensor v = nn::linear(x, w.value).reshape({B, T, NH, HS});
        Tensor a = ops::attention(q, k, v, mask, scale).reshape({B * T, C});
        Tensor h = nn::linear(a, w.attn_out);
        ops::add_(h, x);
        x = ops::layer_norm(h, w.attn_norm_weight, w.attn_norm_bias, eps);

        h = nn::linear(ops::gelu(nn::linear(x, w.mlp_up)), w.mlp_down);
        ops::add_(h, x);
        x = ops::layer_norm(h, w.out_norm_weight, w.out_norm_bias, eps);
    }
    return x.reshape({B, T, C});
}

}  // namespace ferris::models::encoder
