// attention front-ends: grouped-query attention, causal over a (possibly cached) key/value range,
// or bidirectional with right padding and a relative-position bias (the encoders).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                 float scale) {
    const char* op = "attention";
    check_dim(op, "q", q, 4);
    check_dim(op, "k", k, 4);
    check_dim(op, "v", v, 4);
    check_dtype(op, "q", q, DType::F32);
    check_contiguous(op, "q", q);
    check_float(op, "k", k);
    check_float(op, "v", v);
    check_same_shape(op, k, v);
    if (k.size(0) != q.size(0) || k.size(3) != q.size(3))
        fail(ErrorCode::ShapeMismatch, "[", op, "] q ", shape_str(q.shape()), " vs k ",
             shape_str(k.shape()));
    if (q.size(2) % k.size(2) != 0)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", q.size(2),
             " query heads are not a multiple of ", k.size(2), " key/value heads");
    for (const Tensor* t : {&k, &v})
        if (t->strides()[3] != 1 || t->strides()[2] != t->size(3))
            fail(ErrorCode::InvalidArgument, "[", op, "] k/v heads must be contiguous");
    const int64_t b_n = q.size(0), t_n = q.size(1), s_n = k.size(1);
    if (mask.q_offset < 0 || (mask.causal && mask.q_offset + t_n > s_n))
        fail(ErrorCode::ShapeMismatch, "[", op, "] queries at ", mask.q_offset, "..",
             mask.q_offset + t_n, " past the ", s_n, " keys");
    check_same_device(op, q, k);
    if (mask.key_lengths.defined()) {
        const Tensor& kl = mask.key_lengths;
        check_dtype(op, "key_lengths", kl, DType::I32);
        if (kl.dim() != 1 || kl.size(0) != b_n || !kl.is_contiguous())
            fail(ErrorCode::ShapeMismatch, "[", op, "] key_lengths ", shape_str(kl.shape()),
                 " != (", b_n, ")");
        check_same_device(op, q, kl);
        // Lengths are checked where they are readable (host); a device copy is trusted.
        if (kl.device().is_cpu())
            for (int64_t b = 0; b < b_n; ++b)
                if (kl.data<int32_t>()[b] < 0 || kl.data<int32_t>()[b] > s_n)
                    fail(ErrorCode::InvalidArgument, "[", op, "] key_lengths[", b, "] = ",
                         kl.data<int32_t>()[b], " outside 0..", s_n);
    }
    if (mask.relative_bias.defined()) {
        const Tensor& rb = mask.relative_bias;
        check_dtype(op, "relative_bias", rb, DType::F32);
        check_contiguous(op, "relative_bias", rb);
        if (rb.dim() != 2 || rb.size(0) != q.size(2) || rb.size(1) != t_n + s_n - 1)
            fail(ErrorCode::ShapeMismatch, "[", op, "] relative_bias ", shape_str(rb.shape()),
                 " != (", q.size(2), ", ", t_n + s_n - 1, ")");
        if (mask.q_offset != 0)
            fail(ErrorCode::InvalidArgument, "[", op, "] relative_bias needs q_offset 0");
        check_same_device(op, q, rb);
    }
    Backend& be = backend_checked(OpKind::Attention, k);
    Tensor out = be.empty(q.shape(), DType::F32);
    be.attention(out, q, k, v, mask, scale);
    return out;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t q_offset, float scale) {
    AttentionMask mask;
    mask.q_offset = q_offset;
    return attention(q, k, v, mask, scale);
}

}  // namespace ferris::ops
