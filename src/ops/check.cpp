// Shared argument checks for op front-ends (messages: "[op] what: expected ..., got ...").
#include "ops/check.h"

namespace ferris::ops {

void check_defined(const char* op, const char* what, const Tensor& t) {
    if (!t.defined()) fail(ErrorCode::InvalidArgument, "[", op, "] ", what, " is undefined");
}

void check_dim(const char* op, const char* what, const Tensor& t, int64_t dims) {
    check_defined(op, what, t);
    if (t.dim() != dims)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", what, ": expected ", dims,
             " dimensions, got ", shape_str(t.shape()));
}

void check_dtype(const char* op, const char* what, const Tensor& t, DType dtype) {
    if (t.dtype() != dtype)
        fail(ErrorCode::DTypeMismatch, "[", op, "] ", what, ": expected ", dtype_name(dtype),
             ", got ", dtype_name(t.dtype()));
}

void check_float(const char* op, const char* what, const Tensor& t) {
    if (!is_float(t.dtype()))
        fail(ErrorCode::DTypeMismatch, "[", op, "] ", what, ": expected a float dtype, got ",
             dtype_name(t.dtype()));
}

void check_contiguous(const char* op, const char* what, const Tensor& t) {
    if (!t.is_contiguous())
        fail(ErrorCode::InvalidArgument, "[", op, "] ", what, " must be contiguous");
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape())
        fail(ErrorCode::ShapeMismatch, "[", op, "] shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " differ");
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
    if (!(a.device() == b.device()))
        fail(ErrorCode::InvalidArgument, "[", op, "] tensors on ", a.device().str(), " and ",
             b.device().str());
}

Backend& backend_checked(OpKind op, const Tensor& t) {
    Backend& be = backend_for(t.device());
    if (!be.supports(op, t.dtype()))
        fail(ErrorCode::Unsupported, "[", op_name(op), "] ", dtype_name(t.dtype()), " on ",
             be.name());
    return be;
}

}  // namespace ferris::ops
