// linear front-end (torch.nn.functional.linear): x (..., I) f32, weight (O, I), bias (O).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

namespace {

// What every product checks: x (..., I) f32 contiguous, weight (O, I) float, bias (O).
void check_product(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_defined(op, "x", x);
    check_dtype(op, "x", x, DType::F32);
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

}  // namespace

void linear_add_(Tensor& acc, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_product("linear_add", x, weight, bias);
    check_dtype("linear_add", "acc", acc, DType::F32);
    check_contiguous("linear_add", "acc", acc);
    check_same_device("linear_add", acc, x);
    Shape want = x.shape();
    want.back() = weight.size(0);
    if (acc.shape() != want)
        fail(ErrorCode::ShapeMismatch, "[linear_add] acc ", shape_str(acc.shape()),
             " != ", shape_str(want));
    backend_checked(OpKind::LinearAdd, weight).linear_add(acc, x, weight, bias);
}

Tensor swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    check_product("swiglu", x, w_gate, Tensor());
    check_product("swiglu", x, w_up, Tensor());
    if (w_gate.shape() != w_up.shape())
        fail(ErrorCode::ShapeMismatch, "[swiglu] w_gate ", shape_str(w_gate.shape()), " != w_up ",
             shape_str(w_up.shape()));
    Backend& be = backend_checked(OpKind::SwiGlu, w_gate);
    Shape out_shape = x.shape();
    out_shape.back() = w_gate.size(0);
    Tensor out = be.empty(out_shape, DType::F32);
    be.swiglu(out, x, w_gate, w_up);
    return out;
}

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
