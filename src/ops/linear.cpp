// linear front-end (torch.nn.functional.linear): x (..., I) f32 (or the weight's half dtype),
// weight (O, I), bias (O).
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/product_checks.h"

namespace ferris::ops {

void check_product(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                   bool half_x) {
    check_defined(op, "x", x);
    if (!half_x || x.dtype() == DType::F32) {
        check_dtype(op, "x", x, DType::F32);
    } else {
        check_dtype(op, "x", x, weight.dtype());
    }
    check_contiguous(op, "x", x);
    check_dim(op, "weight", weight, 2);
    check_float(op, "weight", weight);
    check_contiguous(op, "weight", weight);
    check_same_device(op, x, weight);
    if (weight.size(1) != x.size(-1))
        fail(ErrorCode::ShapeMismatch, "[", op, "] weight ", shape_str(weight.shape()),
             " does not take inputs of size ", x.size(-1));
    if (bias.defined()) {
        check_dim(op, "bias", bias, 1);
        check_float(op, "bias", bias);
        if (bias.size(0) != weight.size(0))
            fail(ErrorCode::ShapeMismatch, "[", op, "] bias ", shape_str(bias.shape()), " != (",
                 weight.size(0), ")");
    }
}

void check_norm_weight(const char* op, const Tensor& x, const Tensor& norm_weight) {
    check_dim(op, "norm_weight", norm_weight, 1);
    check_float(op, "norm_weight", norm_weight);
    check_same_device(op, x, norm_weight);
    if (norm_weight.size(0) != x.size(-1))
        fail(ErrorCode::ShapeMismatch, "[", op, "] norm_weight ", shape_str(norm_weight.shape()),
             " != (", x.size(-1), ")");
}

namespace {

// The SwiGLU pair: both products of x, and of one shape.
void check_gate_up(const char* op, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    check_product(op, x, w_gate, Tensor());
    check_product(op, x, w_up, Tensor());
    if (w_gate.shape() != w_up.shape())
        fail(ErrorCode::ShapeMismatch, "[", op, "] w_gate ", shape_str(w_gate.shape()), " != w_up ",
             shape_str(w_up.shape()));
}

// x (..., I) times weight (O, I)^T: (..., O).
Shape product_shape(const Tensor& x, const Tensor& weight) {
    Shape shape = x.shape();
    shape.back() = weight.size(0);
    return shape;
}

}  // namespace

void linear_add_(Tensor& acc, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_product("linear_add", x, weight, bias);
    check_dtype("linear_add", "acc", acc, DType::F32);
    check_contiguous("linear_add", "acc", acc);
    check_same_device("linear_add", acc, x);
    const Shape want = product_shape(x, weight);
    if (acc.shape() != want)
        fail(ErrorCode::ShapeMismatch, "[linear_add] acc ", shape_str(acc.shape()),
             " != ", shape_str(want));
    backend_checked(OpKind::LinearAdd, weight).linear_add(acc, x, weight, bias);
}

Tensor swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    check_gate_up("swiglu", x, w_gate, w_up);
    Backend& be = backend_checked(OpKind::SwiGlu, w_gate);
    Tensor out = be.empty(product_shape(x, w_gate), DType::F32);
    be.swiglu(out, x, w_gate, w_up);
    return out;
}

Tensor rms_norm_linear(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& weight,
                       const Tensor& bias) {
    check_product("rms_norm_linear", x, weight, bias);
    check_norm_weight("rms_norm_linear", x, norm_weight);
    Backend& be = backend_checked(OpKind::RmsNormLinear, weight);
    Tensor out = be.empty(product_shape(x, weight), DType::F32);
    be.rms_norm_linear(out, x, norm_weight, eps, weight, bias);
    return out;
}

Tensor rms_norm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& w_gate,
                       const Tensor& w_up) {
    check_gate_up("rms_norm_swiglu", x, w_gate, w_up);
    check_norm_weight("rms_norm_swiglu", x, norm_weight);
    Backend& be = backend_checked(OpKind::RmsNormSwiGlu, w_gate);
    Tensor out = be.empty(product_shape(x, w_gate), DType::F32);
    be.rms_norm_swiglu(out, x, norm_weight, eps, w_gate, w_up);
    return out;
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_product("linear_gelu", x, weight, bias, /*half_x=*/true);
    Backend& be = backend_checked(OpKind::LinearGelu, weight);
    Tensor out = be.empty(product_shape(x, weight), x.dtype());
    be.linear_gelu(out, x, weight, bias);
    return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_product("linear", x, weight, bias, /*half_x=*/true);  // out follows x's dtype
    Backend& be = backend_checked(OpKind::Linear, weight);
    Tensor out = be.empty(product_shape(x, weight), x.dtype());
    be.linear(out, x, weight, bias);
    return out;
}

}  // namespace ferris::ops
