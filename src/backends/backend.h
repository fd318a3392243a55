// The Backend interface: one virtual per op, grouped by family, plus memory and sync. The CPU
// backend implements every op and is the reference; CUDA (GPU issue) implements the same
// signatures. Inputs are validated by src/ops front-ends, so backends assume valid arguments.
// Adding an op here breaks every backend's build until it implements (or rejects) it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferris/tensor.h"

namespace ferris {

enum class OpKind {
    Copy,
    Embedding,
    RmsNorm,
    LayerNorm,
    Gelu,
    Linear,
    Add,
    SiluMul,
    Rope,
    Attention,
    CrossEntropy,
    Pool,
    WriteRows,
    Argmax,
    Sample,
    LinearAdd,
    SwiGlu,
    RmsNormLinear,
    RmsNormSwiGlu,
    RopeQkv,
    RmsNormQkvRope,
    AddLayerNorm,
    LinearGelu,
    DecoderLayers,
    DecoderGreedyStep,
};
const char* op_name(OpKind op);

// Which keys each query sees, and what is added to its scores.
// - causal: query t (at position q_offset + t) sees keys 0 .. q_offset + t; else every key.
// - key_lengths (B) i32, optional: keys at or past key_lengths[b] are padding and never seen
//   (right-padded batches).
// - segments (NS + 1) i32, optional: packed sequences without padding. Needs B == 1, T == S,
//   q_offset 0; rows segments[i] .. segments[i+1] - 1 are sequence i, which sees only itself
//   (and, if causal, only its past). segments[0] == 0, segments[NS] == T.
// - relative_bias (NH, 2W - 1) f32, optional: bias[h, s - t + W - 1] is added to the scaled score
//   of query t and key s (MPNet's bucketed relative positions, expanded by the caller); W must
//   cover every visible distance (W >= the longest sequence); needs q_offset 0.
// - longest_segment, with segments: the longest sequence's length when the caller knows it (0:
//   unknown); no segment may be longer. A backend may tile the work by sequence with it.
// - host_segments, with segments: the same offsets on the CPU, when the caller has them; a device
//   backend plans its blocks from the lengths without reading them back.
// - precision: F32 asks for f32 arithmetic throughout. BF16/F16 (a model whose weights are in
//   that dtype) lets a backend round q, k, v and the softmax probabilities to it and multiply on
//   tensor cores with f32 accumulation, as flash-attention does; the CPU computes in f32 anyway.
struct AttentionMask {
    bool causal = true;
    int64_t q_offset = 0;
    Tensor key_lengths;
    Tensor segments;
    int64_t longest_segment = 0;
    Tensor host_segments;
    Tensor relative_bias;
    DType precision = DType::F32;
};

// Sentence pooling over the rows of each packed sequence (see Backend::pool).
enum class PoolMode { Mean, Cls, Max };

// Options of the `sample` op (Backend::sample); the defaults turn every filter off.
struct SampleOptions {
    float temperature = 1.0f;         // 0 = greedy
    int top_k = 0;                    // 0 = off
    float top_p = 1.0f;               // 1 = off
    float min_p = 0.0f;               // 0 = off
    float repetition_penalty = 1.0f;  // 1 = off
};
// The op's uniform draw u in [0, 1) travels as the integer u * 2^53 in an i64 tensor: exactly the
// 53 bits of Rng::uniform_double(), without an f64 dtype.
constexpr double kSampleUniformScale = 9007199254740992.0;  // 2^53

// One pre-norm decoder layer (Qwen2 / Llama style) for Backend::decoder_layers. Matrices share one
// float dtype; norm weights and the bias are f32.
struct DecoderLayer {
    Tensor attn_norm;         // (C)
    Tensor qkv, qkv_bias;     // ((NH + 2 NKV) HS, C) q, k, v stacked; bias of that length or none
    Tensor o;                 // (C, NH HS)
    Tensor mlp_norm;          // (C)
    Tensor gate, up;          // (I, C)
    Tensor down;              // (C, I)
    Tensor k_cache, v_cache;  // (1, S, NKV, HS), rows contiguous, one float dtype
};
// What one decode step's layers share: NH query heads, the norms' eps, rope's theta, the
// attention scale, and on the device the token's cache row `position` (1) i32 and the keys it
// sees, `key_count` (1) i32 (keys 0 .. key_count - 1 of the caches).
struct DecoderStep {
    int64_t heads = 0;
    float eps = 1e-6f, theta = 10000.0f, scale = 1.0f;
    Tensor position, key_count;
};
// What a whole greedy decode step (Backend::decoder_greedy_step) adds around the layers.
struct DecoderHead {
    Tensor embed;       // (V', C) token embeddings, the layers' dtype
    Tensor final_norm;  // (C) f32
    Tensor lm_head;     // (V, C), the layers' dtype (tied weights: the same tensor as embed)
};

// A recorded piece of work that runs again on replay(): a CUDA graph on the GPU (launch overhead
// paid once), a plain re-run of the function on the CPU. Tensors the body assigned to variables
// outside it hold the latest replay's results; the body must not move data to or from the host.
class RecordedStep {
public:
    virtual ~RecordedStep() = default;
    virtual void replay() = 0;
};

// Small device -> host reads that wait only for the work queued before them: post() queues a copy
// of a (small, contiguous) tensor into a slot, take() waits for that copy alone and returns the
// slot's bytes. The decode loop reads step n's token while step n + 1 is already queued. Where
// the work runs at once (the CPU), post() copies at once.
class Readback {
public:
    virtual ~Readback() = default;
    virtual void post(int slot, const Tensor& src) = 0;
    virtual const void* take(int slot) = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual Device device() const = 0;
    virtual std::string name() const = 0;
    virtual bool supports(OpKind op, DType dtype) const = 0;

    // Memory: a new contiguous tensor on this backend's device; copy between any two tensors of
    // the same shape where one side is on this device (or host), converting float dtypes.
    virtual Tensor empty(const Shape& shape, DType dtype) = 0;
    virtual void copy(Tensor& dst, const Tensor& src) = 0;
    virtual void synchronize() = 0;
    // Records `body` (its ops on this backend) without running it; replay() runs it.
    virtual std::unique_ptr<RecordedStep> record(const std::function<void()>& body) = 0;
    // `slots` slots of up to `bytes` each; the default copies synchronously (post = copy).
    virtual std::unique_ptr<Readback> readback(int slots, size_t bytes);
    // Lanes: independent queues of work on one device, so that one piece of work runs in the
    // gaps and tails of another's kernels. fork_lanes(n) opens up to n lanes, each after all the
    // work queued so far, and says how many it opened (1 where work runs at once: the CPU);
    // use_lane(i) queues the ops that follow on lane i; join_lanes() puts all later work after
    // every lane's. Between the fork and the join a tensor made on one lane may be used only on
    // that lane (and the host reads it through a Readback posted there).
    virtual int fork_lanes(int n);
    virtual void use_lane(int lane);
    virtual void join_lanes() {}

    // Ops. Shapes use the letters of docs/ARCHITECTURE.md; N = rows (B*T). Activations are f32
    // unless stated; weights may be f32, f16 or bf16 and are read in their stored dtype.
    // out (N, C) = table[ids]; table (V, C); ids (N) i32
    virtual void embedding(Tensor& out, const Tensor& table, const Tensor& ids) = 0;
    // Fused, the encoders' input: out (N, C) = layer_norm(tables[0][ids[0]] + tables[1][ids[1]]
    // + ...), the sum formed in f32 in that order. The default runs embedding, add and layer_norm.
    virtual void embedding_layer_norm(Tensor& out, const std::vector<Tensor>& tables,
                                      const std::vector<Tensor>& ids, const Tensor& weight,
                                      const Tensor& bias, float eps);
    // out = x / sqrt(mean(x^2) + eps) * weight, over the last dim; x, out (N, C); weight (C)
    virtual void rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) = 0;
    // out = (x - mean) / sqrt(var + eps) * weight + bias over the last dim (biased variance, as
    // torch.nn.LayerNorm); x, out (N, C); weight, bias (C)
    virtual void layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                            float eps) = 0;
    // Fused, the encoders' residual step: out = layer_norm(x + residual); x, residual, out (N, C)
    // of one float dtype (the sum is formed in f32, not rounded first).
    virtual void add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual,
                                const Tensor& weight, const Tensor& bias, float eps) = 0;
    // out = x * 0.5 * (1 + erf(x / sqrt(2))): the exact GELU of BERT/MPNet ("gelu"); out may be x
    virtual void gelu(Tensor& out, const Tensor& x) = 0;
    // out (N, O) = x (N, I) @ weight (O, I)^T + bias (O); bias may be undefined
    virtual void linear(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) = 0;
    // Fused, the encoders' FFN up-projection: out = gelu(linear(x, weight, bias)), the product
    // rounded to out's dtype before the GELU. A backend may evaluate the erf GELU another way
    // in the fused epilogue (CUDA on sm_90: gelu_fast, within an ulp of the exact GELU in T).
    virtual void linear_gelu(Tensor& out, const Tensor& x, const Tensor& weight,
                             const Tensor& bias) = 0;
    // Fused, for decode: acc (N, O) += x (N, I) @ weight^T + bias (the residual add in the
    // product's epilogue).
    virtual void linear_add(Tensor& acc, const Tensor& x, const Tensor& weight,
                            const Tensor& bias) = 0;
    // Fused, for decode: out (N, I) = silu(x @ w_gate^T) * (x @ w_up^T); x (N, C); w (I, C).
    virtual void swiglu(Tensor& out, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) = 0;
    // Fused, for decode (the pre-norm in the product): out (N, O) = linear(rms_norm(x, norm_weight,
    // eps), weight, bias), resp. out (N, I) = swiglu(rms_norm(x, norm_weight, eps), w_gate, w_up).
    virtual void rms_norm_linear(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                                 const Tensor& weight, const Tensor& bias) = 0;
    virtual void rms_norm_swiglu(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                                 const Tensor& w_gate, const Tensor& w_up) = 0;
    // Fused, for decode (the tail of one q/k/v product): qkv (N, (NH + 2 NKV) HS) f32 holds each
    // token's q, k and v heads. q (N, NH, HS) f32 = rope(q part); k_cache / v_cache (1, S, NKV,
    // HS), rows contiguous, one float dtype: row positions[n] = rope(k part) / the v part.
    virtual void rope_qkv(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv,
                          const Tensor& positions, float theta) = 0;
    // Fused, for decode (the whole q/k/v step): rope_qkv of rms_norm_linear(x, norm_weight, eps,
    // weight, bias); x (N, C) f32; weight ((NH + 2 NKV) HS, C) stacks the q, k, v projections.
    virtual void rms_norm_qkv_rope(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& x,
                                   const Tensor& norm_weight, float eps, const Tensor& weight,
                                   const Tensor& bias, const Tensor& positions, float theta) = 0;
    // out = a + alpha * b (same shapes; out may alias a)
    virtual void add(Tensor& out, const Tensor& a, const Tensor& b, float alpha) = 0;
    // out = silu(gate) * up; all (N, I)
    virtual void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up) = 0;
    // In place rotary embedding, HF "rotate_half" layout: x (N, H, HS); positions (N) i32
    virtual void rope(Tensor& x, const Tensor& positions, float theta) = 0;
    // Grouped-query attention: softmax(scale * q k^T + bias, masked) v. q (B, T, NH, HS) f32;
    // k, v (B, S, NKV, HS) in any float dtype (a KV cache view, last two dims contiguous);
    // out (B, T, NH, HS). A query that sees no key gets zeros.
    virtual void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionMask& mask, float scale) = 0;
    // out (N) f32 = logsumexp(logits[n]) - logits[n, targets[n]]; logits (N, V); targets (N) i32
    virtual void cross_entropy(Tensor& out, const Tensor& logits, const Tensor& targets) = 0;
    // out (NS, C) f32: per packed sequence of x (N, C) f32 — rows segments[i] .. segments[i+1]-1,
    // segments (NS + 1) i32 — the mean, the first row (CLS) or the max of its rows; then, when
    // `normalize`, x / max(||x||, 1e-12) per row (torch.nn.functional.normalize).
    virtual void pool(Tensor& out, const Tensor& x, const Tensor& segments, PoolMode mode,
                      bool normalize) = 0;
    // dst[b, rows[t]] = src[b, t] (converted to dst's float dtype): src (B, T, ...) f32
    // contiguous; dst (B, S, ...) whose rows (dims 2..) are contiguous; rows (T) i32 — the KV
    // cache write whose positions live on the device.
    virtual void write_rows(Tensor& dst, const Tensor& src, const Tensor& rows) = 0;
    // out (N) i32 = index of the largest value of each row of x (N, V) f32 (the first on ties).
    virtual void argmax(Tensor& out, const Tensor& x) = 0;
    // out (1) i32 = a token drawn from logits (1, V) f32 (not modified), with Hugging Face's
    // semantics and order (backends/cpu/sampling.h): repetition penalty on the ids where seen (V)
    // i32 is nonzero, then argmax when temperature is 0, else temperature, top-k, top-p, min-p and
    // the inverse CDF in token-id order at u = uniform (1) i64 / 2^53. Sets seen[out] = 1.
    virtual void sample(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
                        const SampleOptions& options) = 0;
    // Fused, for decode (one token through every layer; on a GPU one persistent kernel): x (1, C)
    // f32 in place, for each layer in order:
    //   q = rms_norm_qkv_rope(x, attn_norm, eps, qkv, qkv_bias, heads, caches, position, theta)
    //   x += o(attention(q, the caches' first key_count keys, scale))     (linear_add)
    //   x += down(rms_norm_swiglu(x, mlp_norm, eps, gate, up))             (linear_add)
    virtual void decoder_layers(Tensor& x, const std::vector<DecoderLayer>& layers,
                                const DecoderStep& step) = 0;
    // Fused, one greedy decode step (on a GPU one persistent kernel): token (1) i32 in place,
    //   x (1, C) f32 = embedding(embed, token); decoder_layers(x, layers, step)
    //   logits (1, V) f32 = rms_norm_linear(x, final_norm, eps, lm_head); token = argmax(logits)
    // By default those op calls, one after the other.
    virtual void decoder_greedy_step(Tensor& token, Tensor& logits, Tensor& x,
                                     const DecoderHead& head,
                                     const std::vector<DecoderLayer>& layers,
                                     const DecoderStep& step);

protected:
    // decoder_layers as those op calls, one after the other (the CPU's implementation, and the
    // GPU's where its kernel does not apply).
    void decoder_layers_by_ops(Tensor& x, const std::vector<DecoderLayer>& layers,
                               const DecoderStep& step);
};

}  // namespace ferris
