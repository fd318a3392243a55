// Op front-ends: validate arguments (shape, dtype, device) with messages naming the op, allocate
// outputs on the inputs' device, and dispatch to that device's backend. Models call only these.
#pragma once

#include <optional>
#include <vector>

#include "backends/backend.h"
#include "ferris/tensor.h"

namespace ferris::ops {

Tensor empty(const Shape& shape, DType dtype, Device device);
void copy_(Tensor& dst, const Tensor& src);            // same shape; converts dtype/device
Tensor to_device(const Tensor& src, Device device);    // contiguous copy (or src itself)
std::vector<float> to_host_floats(const Tensor& src);  // any float dtype, any device

Tensor embedding(const Tensor& table, const Tensor& ids);  // (V, C), (N) i32 -> (N, C) f32
// layer_norm(tables[0][ids[0]] + tables[1][ids[1]] + ...) in out_dtype: the encoders' input
// (word, position and token-type embeddings), the sum in f32.
Tensor embedding_layer_norm(const std::vector<Tensor>& tables, const std::vector<Tensor>& ids,
                            const Tensor& weight, const Tensor& bias, float eps, DType out_dtype);
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps);
// layer_norm(x + residual) in one pass (the encoders' post-norm residual); x's dtype out.
Tensor add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight,
                      const Tensor& bias, float eps);
// x f32, f16 or bf16; the output in out_dtype (default: x's), computed in f32.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                  std::optional<DType> out_dtype = std::nullopt);
Tensor gelu(const Tensor& x);  // exact (erf) GELU
void gelu_(Tensor& x);         // the same, in place
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
// Fused for decode: acc += x @ weight^T + bias; silu(x @ w_gate^T) * (x @ w_up^T).
void linear_add_(Tensor& acc, const Tensor& x, const Tensor& weight, const Tensor& bias = {});
// gelu(linear(x, weight, bias)) in one op (the encoders' FFN): the product rounded to x's dtype,
// then the erf GELU (Backend::linear_gelu says how exactly a fused epilogue evaluates it).
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
Tensor swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up);
// The pre-norm fused into the product (decode): linear / swiglu of rms_norm(x, norm_weight, eps).
Tensor rms_norm_linear(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& weight,
                       const Tensor& bias = {});
Tensor rms_norm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& w_gate,
                       const Tensor& w_up);
Tensor add(const Tensor& a, const Tensor& b, float alpha = 1.0f);
void add_(Tensor& a, const Tensor& b, float alpha = 1.0f);    // a += alpha * b
Tensor silu_mul(const Tensor& gate, const Tensor& up);        // silu(gate) * up
void rope_(Tensor& x, const Tensor& positions, float theta);  // x (N, H, HS) in place
// Decode's fused q/k/v tail (Backend::rope_qkv): returns q (N, NH, HS) and writes the rotated
// keys and the values into the caches (1, S, NKV, HS) at `positions` (N) i32.
Tensor rope_qkv(const Tensor& qkv, int64_t heads, Tensor& k_cache, Tensor& v_cache,
                const Tensor& positions, float theta);
// The whole q/k/v step of decode in one op: rope_qkv of rms_norm_linear(x, norm_weight, eps,
// weight, bias), where weight stacks the q, k and v projections.
Tensor rms_norm_qkv_rope(const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& weight, const Tensor& bias, int64_t heads, Tensor& k_cache,
                         Tensor& v_cache, const Tensor& positions, float theta);
// One token through a stack of pre-norm decoder layers, x (1, C) f32 in place (the composition
// Backend::decoder_layers states; on a GPU one persistent kernel).
void decoder_layers_(Tensor& x, const std::vector<DecoderLayer>& layers, const DecoderStep& step);
// One greedy decode step (Backend::decoder_greedy_step; on a GPU one persistent kernel): x (1, C)
// = embed[token], the layers, then token (1) i32 = the first index of the largest logit, in
// place. Returns the logits (1, V) f32.
Tensor decoder_greedy_step_(Tensor& token, Tensor& x, const DecoderHead& head,
                            const std::vector<DecoderLayer>& layers, const DecoderStep& step);
// q (B, T, NH, HS); k, v (B, S, NKV, HS); causal with queries at q_offset + t.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t q_offset, float scale);
// The general form: causal or not, right padding, relative-position bias (see AttentionMask).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                 float scale);
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);  // per-row NLL (N) f32
// (NS, C): each packed sequence of x (N, C) pooled (segments (NS + 1) i32), optionally L2-normed.
Tensor pool(const Tensor& x, const Tensor& segments, PoolMode mode, bool normalize);
// dst[b, rows[t]] = src[b, t]: src (B, T, ...) f32; dst (B, S, ...) float, rows contiguous;
// rows (T) i32 on dst's device (the KV-cache write at positions held on the device).
void write_rows_(Tensor& dst, const Tensor& src, const Tensor& rows);
Tensor argmax(const Tensor& x);              // (N, V) f32 -> (N) i32, first index on ties
void argmax_(Tensor& out, const Tensor& x);  // into an existing (N) i32 tensor
// out (1) i32 = a token drawn from logits (1, V) f32 with the repetition penalty on `seen` (V)
// i32, temperature, top-k, top-p, min-p and u = uniform (1) i64 / 2^53; marks it in `seen`
// (Backend::sample). All on one device, so a recorded decode step can include it.
void sample_(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
             const SampleOptions& options);
// Records `body`, run on `device`'s backend, for replay (see RecordedStep in backend.h).
std::unique_ptr<RecordedStep> record(Device device, const std::function<void()>& body);
// Reads back that wait only for the work queued before them (Backend::readback).
std::unique_ptr<Readback> readback(Device device, int slots, size_t bytes);

// A device's lanes for a scope (Backend::fork_lanes): forked by the constructor (n <= 1: none),
// joined by join() or the destructor, so that an exception between them leaves no lane open.
class Lanes {
public:
    Lanes(Device device, int n);
    ~Lanes();
    Lanes(const Lanes&) = delete;
    Lanes& operator=(const Lanes&) = delete;
    int count() const { return count_; }
    void use(int lane);  // lane modulo count()
    void join();

private:
    Backend* backend_ = nullptr;  // null once joined, or when n <= 1
    int count_ = 1;
};

}  // namespace ferris::ops
