// scaled_dot_product_attention front-end: causal GQA over a (possibly cached) key/value range.
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t q_offset, float scale) {
    const char* op = "scaled_dot_product_attention";
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
    if (q_offset < 0 || q_offset + q.size(1) > k.size(1))
        fail(ErrorCode::ShapeMismatch, "[", op, "] queries at ", q_offset, "..",
             q_offset + q.size(1), " past the ", k.size(1), " keys");
    check_same_device(op, q, k);
    Backend& be = backend_checked(OpKind::Attention, k);
    Tensor out = be.empty(q.shape(), DType::F32);
    be.attention(out, q, k, v, q_offset, scale);
    return out;
}

}  // namespace ferris::ops
