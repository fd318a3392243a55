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

Tensor add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                      const Tensor& bias, float eps) {
    const char* op = "add_layer_norm";
    check_defined(op, "x", x);
    check_defined(op, "residual", residual);
    check_float(op, "x", x);
    check_dtype(op, "residual", residual, x.dtype());
    check_contiguous(op, "x", x);
    check_contiguous(op, "residual", residual);
    check_same_shape(op, x, residual);
    check_same_device(op, x, residual);
    for (const Tensor* t : {&weight, &bias}) {
        check_dim(op, t == &weight ? "weight" : "bias", *t, 1);
        check_float(op, t == &weight ? "weight" : "bias", *t);
        if (t->size(0) != x.size(-1))
            fail(ErrorCode::ShapeMismatch, "[", op, "] ", t == &weight ? "weight" : "bias",
                 " shape ", shape_str(t->shape()), " != (", x.size(-1), ")");
        check_same_device(op, x, *t);
    }
    Backend& be = backend_checked(OpKind::AddLayerNorm, x);
    Tensor out = be.empty(x.shape(), x.dtype());
    be.add_layer_norm(out, x, residual, weight, bias, eps);
    return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                  std::optional<DType> out_dtype) {
    check_defined("layer_norm", "x", x);
    check_float("layer_norm", "x", x);
    check_contiguous("layer_norm", "x", x);
    for (const Tensor* t : {&weight, &bias}) {
        check_dim("layer_norm", t == &weight ? "weight" : "bias", *t, 1);
        check_float("layer_norm", t == &weight ? "weight" : "bias", *t);
        if (t->size(0) != x.size(-1))
            fail(ErrorCode::ShapeMismatch, "[layer_norm] ", t == &weight ? "weight" : "bias",
                 " shape ", shape_str(t->shape()), " != (", x.size(-1), ")");
        check_same_device("layer_norm", x, *t);
    }
    const DType dt = out_dtype.value_or(x.dtype());
    if (!is_float(dt))
        fail(ErrorCode::InvalidArgument, "[layer_norm] output dtype ", dtype_name(dt),
             " is not a float type");
    Backend& be = backend_checked(OpKind::LayerNorm, x);
    Tensor out = be.empty(x.shape(), dt);
    be.layer_norm(out, x, weight, bias, eps);
    return out;
}

}  // namespace ferris::ops
