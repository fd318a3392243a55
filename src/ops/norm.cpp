// rms_norm / layer_norm front-ends: x (..., C) f32, weight and bias (C).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
    check_defined("rms_norm", "x", x);
    check_dtype("rms_norm", "x", x, DType::F32);
    check_contiguous("rms_norm", "x", x);
    check_dim("rms_norm", "weight", weight, 1);
    check_float("rms_norm", "weight", weight);
    if (weight.size(0) != x.size(-1))
        fail(ErrorCode::ShapeMismatch, "[rms_norm] weight shape ", shape_str(weight.shape()),
             " != (", x.size(-1), ")");
    check_same_device("rms_norm", x, weight);
    Backend& be = backend_checked(OpKind::RmsNorm, x);
    Tensor out = be.empty(x.shape(), DType::F32);
    be.rms_norm(out, x, weight, eps);
    return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    check_defined("layer_norm", "x", x);
    check_dtype("layer_norm", "x", x, DType::F32);
    check_contiguous("layer_norm", "x", x);
    for (const Tensor* t : {&weight, &bias}) {
        check_dim("layer_norm", t == &weight ? "weight" : "bias", *t, 1);
        check_float("layer_norm", t == &weight ? "weight" : "bias", *t);
        if (t->size(0) != x.size(-1))
            fail(ErrorCode::ShapeMismatch, "[layer_norm] ", t == &weight ? "weight" : "bias",
                 " shape ", shape_str(t->shape()), " != (", x.size(-1), ")");
        check_same_device("layer_norm", x, *t);
    }
    Backend& be = backend_checked(OpKind::LayerNorm, x);
    Tensor out = be.empty(x.shape(), DType::F32);
    be.layer_norm(out, x, weight, bias, eps);
    return out;
}

}  // namespace ferris::ops
