// Op front-ends: validate arguments (shape, dtype, device) with messages naming the op, allocate
// outputs on the inputs' device, and dispatch to that device's backend. Models call only these.
#pragma once

#include "backends/backend.h"
#include "ferris/tensor.h"

namespace ferris::ops {

Tensor empty(const Shape& shape, DType dtype, Device device);
void copy_(Tensor& dst, const Tensor& src);          // same shape; converts dtype/device
Tensor to_device(const Tensor& src, Device device);  // contiguous copy (or src itself)

Tensor embedding(const Tensor& table, const Tensor& ids);  // (V, C), (N) i32 -> (N, C) f32
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
Tensor gelu(const Tensor& x);  // exact (erf) GELU
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
Tensor add(const Tensor& a, const Tensor& b, float alpha = 1.0f);
void add_(Tensor& a, const Tensor& b, float alpha = 1.0f);    // a += alpha * b
Tensor silu_mul(const Tensor& gate, const Tensor& up);        // silu(gate) * up
void rope_(Tensor& x, const Tensor& positions, float theta);  // x (N, H, HS) in place
// q (B, T, NH, HS); k, v (B, S, NKV, HS); causal with queries at q_offset + t.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t q_offset, float scale);
// The general form: causal or not, right padding, relative-position bias (see AttentionMask).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                 float scale);
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);  // per-row NLL (N) f32

}  // namespace ferris::ops
