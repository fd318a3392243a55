// decoder_layers_ and decoder_greedy_step_ front-ends: every layer's tensors checked against x
// (1, C) and the first layer's shapes (all layers alike), and the step's embedding, final norm and
// LM head, before one backend call.
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/product_checks.h"

namespace ferris::ops {

namespace {

// A (rows, cols) matrix of `dtype` on x's device, contiguous.
void check_matrix(const char* op, const char* what, const Tensor& w, int64_t rows, int64_t cols,
                  DType dtype, const Tensor& x) {
    check_dim(op, what, w, 2);
    check_contiguous(op, what, w);
    check_same_device(op, x, w);
    if (w.size(0) != rows || w.size(1) != cols || w.dtype() != dtype)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", what, " is ", shape_str(w.shape()), " ",
             dtype_name(w.dtype()), ", expected (", rows, ", ", cols, ") ", dtype_name(dtype));
}

void check_layers(const char* op, const Tensor& x, const std::vector<DecoderLayer>& layers,
                  const DecoderStep& step) {
    check_dim(op, "x", x, 2);
    check_dtype(op, "x", x, DType::F32);
    check_contiguous(op, "x", x);
    if (x.size(0) != 1)
        fail(ErrorCode::ShapeMismatch, "[", op, "] x has ", x.size(0), " rows, not 1");
    if (layers.empty()) fail(ErrorCode::InvalidArgument, "[", op, "] no layers");
    check_dim(op, "key_count", step.key_count, 1);
    check_dtype(op, "key_count", step.key_count, DType::I32);
    check_same_device(op, x, step.key_count);
    const DecoderLayer& first = layers.front();
    const int64_t c = x.size(1), inter = first.gate.defined() ? first.gate.size(0) : 0;
    for (const DecoderLayer& l : layers) {
        check_norm_weight(op, x, l.attn_norm);
        check_norm_weight(op, x, l.mlp_norm);
        check_product(op, x, l.qkv, l.qkv_bias);
        check_qkv_tail(op, 1, l.qkv.size(0), step.heads, l.k_cache, l.v_cache, step.position);
        check_same_device(op, x, l.k_cache);
        if (l.k_cache.shape() != first.k_cache.shape() || l.qkv.shape() != first.qkv.shape())
            fail(ErrorCode::ShapeMismatch, "[", op,
                 "] layers differ in their q/k/v or cache shapes");
        const DType dt = first.qkv.dtype();
        check_matrix(op, "qkv", l.qkv, l.qkv.size(0), c, dt, x);
        check_matrix(op, "o", l.o, c, step.heads * l.k_cache.size(3), dt, x);
        check_matrix(op, "gate", l.gate, inter, c, dt, x);
        check_matrix(op, "up", l.up, inter, c, dt, x);
        check_matrix(op, "down", l.down, c, inter, dt, x);
    }
}

}  // namespace

void decoder_layers_(Tensor& x, const std::vector<DecoderLayer>& layers, const DecoderStep& step) {
    check_layers("decoder_layers", x, layers, step);
    const DecoderLayer& first = layers.front();
    backend_checked(OpKind::DecoderLayers, first.qkv).decoder_layers(x, layers, step);
}

Tensor decoder_greedy_step_(Tensor& token, Tensor& x, const DecoderHead& head,
                            const std::vector<DecoderLayer>& layers, const DecoderStep& step) {
    const char* op = "decoder_greedy_step";
    check_layers(op, x, layers, step);
    check_dim(op, "token", token, 1);
    check_dtype(op, "token", token, DType::I32);
    check_same_device(op, x, token);
    if (token.size(0) != 1)
        fail(ErrorCode::ShapeMismatch, "[", op, "] token has ", token.size(0), " ids, not 1");
    const int64_t c = x.size(1);
    const DType dt = layers.front().qkv.dtype();
    check_dim(op, "embed", head.embed, 2);
    check_matrix(op, "embed", head.embed, head.embed.size(0), c, dt, x);
    check_dim(op, "lm_head", head.lm_head, 2);
    check_matrix(op, "lm_head", head.lm_head, head.lm_head.size(0), c, dt, x);
    check_norm_weight(op, x, head.final_norm);
    Tensor logits = ops::empty({1, head.lm_head.size(0)}, DType::F32, x.device());
    backend_checked(OpKind::DecoderGreedyStep, layers.front().qkv)
        .decoder_greedy_step(token, logits, x, head, layers, step);
    return logits;
}

}  // namespace ferris::ops
