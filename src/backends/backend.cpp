// Op names for error messages and supports() reports; the default implementations of the
// composite ops and of readback().
#include "backends/backend.h"

#include <cstring>

#include "ferris/error.h"

namespace ferris {

namespace {

// Readback where post() may simply copy: the work before it has already run (or copy() waits).
class SyncReadback final : public Readback {
public:
    SyncReadback(Backend& backend, int slots, size_t bytes)
        : backend_(backend), bytes_(bytes), data_(static_cast<size_t>(slots) * bytes) {}
    void post(int slot, const Tensor& src) override {
        const size_t n = src.numel() * dtype_size(src.dtype());
        if (slot < 0 || static_cast<size_t>(slot + 1) * bytes_ > data_.size() || n > bytes_)
            fail(ErrorCode::InvalidArgument, "readback: slot ", slot, " or ", n,
                 " bytes outside the slots");
        Tensor host = Tensor::empty(src.shape(), src.dtype());
        backend_.copy(host, src);
        std::memcpy(data_.data() + static_cast<size_t>(slot) * bytes_, host.raw(), n);
    }
    const void* take(int slot) override {
        return data_.data() + static_cast<size_t>(slot) * bytes_;
    }

private:
    Backend& backend_;
    size_t bytes_;
    std::vector<unsigned char> data_;
};

}  // namespace

std::unique_ptr<Readback> Backend::readback(int slots, size_t bytes) {
    return std::make_unique<SyncReadback>(*this, slots, bytes);
}

int Backend::fork_lanes(int n) {
    if (n < 1) fail(ErrorCode::InvalidArgument, name(), ": fork into ", n, " lanes");
    return 1;
}

void Backend::use_lane(int lane) {
    if (lane != 0) fail(ErrorCode::InvalidArgument, name(), ": lane ", lane, " of 1");
}

void Backend::embedding_layer_norm(Tensor& out, const std::vector<Tensor>& tables,
                                   const std::vector<Tensor>& ids, const Tensor& weight,
                                   const Tensor& bias, float eps) {
    Tensor sum = empty(out.shape(), DType::F32);
    embedding(sum, tables[0], ids[0]);
    for (size_t i = 1; i < tables.size(); ++i) {
        Tensor rows = empty(out.shape(), DType::F32);
        embedding(rows, tables[i], ids[i]);
        add(sum, sum, rows, 1.0f);
    }
    layer_norm(out, sum, weight, bias, eps);
}

const char* op_name(OpKind op) {
    switch (op) {
        case OpKind::Copy:
            return "copy";
        case OpKind::Embedding:
            return "embedding";
        case OpKind::RmsNorm:
            return "rms_norm";
        case OpKind::LayerNorm:
            return "layer_norm";
        case OpKind::Gelu:
            return "gelu";
        case OpKind::Linear:
            return "linear";
        case OpKind::Add:
            return "add";
        case OpKind::SiluMul:
            return "silu_mul";
        case OpKind::Rope:
            return "rope";
        case OpKind::Attention:
            return "scaled_dot_product_attention";
        case OpKind::CrossEntropy:
            return "cross_entropy";
        case OpKind::Pool:
            return "pool";
        case OpKind::WriteRows:
            return "write_rows";
        case OpKind::Argmax:
            return "argmax";
        case OpKind::Sample:
            return "sample";
        case OpKind::LinearAdd:
            return "linear_add";
        case OpKind::SwiGlu:
            return "swiglu";
        case OpKind::RmsNormLinear:
            return "rms_norm_linear";
        case OpKind::RmsNormSwiGlu:
            return "rms_norm_swiglu";
        case OpKind::RopeQkv:
            return "rope_qkv";
        case OpKind::RmsNormQkvRope:
            return "rms_norm_qkv_rope";
        case OpKind::AddLayerNorm:
            return "add_layer_norm";
        case OpKind::LinearGelu:
            return "linear_gelu";
        case OpKind::DecoderLayers:
            return "decoder_layers";
        case OpKind::DecoderGreedyStep:
            return "decoder_greedy_step";
    }
    return "?";
}

void Backend::decoder_layers_by_ops(Tensor& x, const std::vector<DecoderLayer>& layers,
                                    const DecoderStep& step) {
    for (const DecoderLayer& l : layers) {
        const int64_t hs = l.k_cache.size(3);
        Tensor q = empty({1, step.heads, hs}, DType::F32);
        Tensor keys = l.k_cache, values = l.v_cache;  // handles on the same storage
        rms_norm_qkv_rope(q, keys, values, x, l.attn_norm, step.eps, l.qkv, l.qkv_bias,
                          step.position, step.theta);
        AttentionMask mask;  // causal over the whole cache, cut at key_count
        mask.q_offset = l.k_cache.size(1) - 1;
        mask.key_lengths = step.key_count;
        Tensor a = empty({1, 1, step.heads, hs}, DType::F32);
        attention(a, q.reshape({1, 1, step.heads, hs}), l.k_cache, l.v_cache, mask, step.scale);
        linear_add(x, a.reshape({1, step.heads * hs}), l.o, Tensor());
        Tensor h = empty({1, l.gate.size(0)}, DType::F32);
        rms_norm_swiglu(h, x, l.mlp_norm, step.eps, l.gate, l.up);
        linear_add(x, h, l.down, Tensor());
    }
}

void Backend::decoder_greedy_step(Tensor& token, Tensor& logits, Tensor& x, const DecoderHead& head,
                                  const std::vector<DecoderLayer>& layers,
                                  const DecoderStep& step) {
    embedding(x, head.embed, token);
    decoder_layers(x, layers, step);
    rms_norm_linear(logits, x, head.final_norm, step.eps, head.lm_head, Tensor());
    argmax(token, logits);
}

}  // namespace ferris
