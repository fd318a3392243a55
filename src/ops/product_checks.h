// The checks every product op shares (linear.cpp), also used by the fused decode ops elsewhere.
#pragma once

#include "ferris/tensor.h"

namespace ferris::ops {

// x (..., I) f32 contiguous (or, with half_x, in the weight's own half dtype: a GPU model's
// activations), weight (O, I) float and contiguous, bias (O) or undefined.
void check_product(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                   bool half_x = false);
// norm_weight (I) float, on x's device.
void check_norm_weight(const char* op, const Tensor& x, const Tensor& norm_weight);

}  // namespace ferris::ops
