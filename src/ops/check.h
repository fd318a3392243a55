// Validation helpers shared by the op front-ends; each throws a ferris::Error naming the op.
#pragma once

#include "backends/backend.h"
#include "backends/registry.h"
#include "ferris/tensor.h"

namespace ferris::ops {

void check_defined(const char* op, const char* what, const Tensor& t);
void check_dim(const char* op, const char* what, const Tensor& t, int64_t dims);
void check_dtype(const char* op, const char* what, const Tensor& t, DType dtype);
void check_float(const char* op, const char* what, const Tensor& t);
void check_contiguous(const char* op, const char* what, const Tensor& t);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
Backend& backend_checked(OpKind op, const Tensor& t);

}  // namespace ferris::ops
