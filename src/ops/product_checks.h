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

// Decode's q/k/v tail (rope.cpp): n rows of `width` = (heads + 2 NKV) HS values going to q and to
// the caches (1, S, NKV, HS) of one float dtype, rows contiguous, at positions (n) i32.
void check_qkv_tail(const char* op, int64_t n, int64_t width, int64_t heads, const Tensor& k_cache,
                    const Tensor& v_cache, const Tensor& positions);

}  // namespace ferris::ops
