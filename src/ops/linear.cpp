// linear front-end (torch.nn.functional.linear): x (..., I) f32, weight (O, I), bias (O).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_defined("linear", "x", x);
    check_dtype("linear", "x", x, DType::F32);
    check_contiguous("linear", "x", x);
    check_dim("linear", "weight", weight, 2);
    check_float("linear", "weight", weight);
    check_contiguous("linear", "weight", weight);
    check_same_device("linear", x, weight);
    if (weight.size(1) != x.size(-1))
        fail(ErrorCode::ShapeMismatch, "[linear] weight ", shape_str(weight.shape()),
             " does not take inputs of size ", x.size(-1));
    if (bias.defined()) {
        check_dim("linear", "bias", bias, 1);
        check_float("linear", "bias", bias);
        if (bias.size(0) != weight.size(0))
            fail(ErrorCode::ShapeMismatch, "[linear] bias ", shape_str(bias.shape()), " != (",
                 weight.size(0), ")");
    }
    Backend& be = backend_checked(OpKind::Linear, weight);
    Shape out_shape = x.shape();
    out_shape.back() = weight.size(0);
    Tensor out = be.empty(out_shape, DType::F32);
    be.linear(out, x, weight, bias);
    return out;
}

}  // namespace ferris::ops
