// The CPU backend: the reference implementation of every op. One .cpp per op family in this
// folder (copy, embedding, norm, linear, elementwise, rope, attention, loss). Threads through
// parallel_for (core/parallel.h), OpenBLAS for matrix products, SIMD through the compiler's
// vectorizer and intrinsics.
#pragma once

#include "backends/backend.h"

namespace ferris::cpu {

class CpuBackend final : public Backend {
public:
    Device device() const override { return Device::cpu(); }
    std::string name() const override { return "cpu"; }
    bool supports(OpKind op, DType dtype) const override;

    Tensor empty(const Shape& shape, DType dtype) override;
    // A half-precision activation as f32 (a copy; `t` itself when already f32). The CPU computes
    // in f32: ops given a GPU model's bf16/f16 activations convert in and out.
    Tensor as_f32(const Tensor& t);
    void copy(Tensor& dst, const Tensor& src) override;
    void synchronize() override {}
    std::unique_ptr<RecordedStep> record(const std::function<void()>& body) override;

    void embedding(Tensor& out, const Tensor& table, const Tensor& ids) override;
    void rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) override;
    void layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    float eps) override;
    void add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual, const Tensor& weight,
                        const Tensor& bias, float eps) override;
    void gelu(Tensor& out, const Tensor& x) override;
    void linear(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) override;
    void linear_gelu(Tensor& out, const Tensor& x, const Tensor& weight,
                     const Tensor& bias) override;
    void linear_add(Tensor& acc, const Tensor& x, const Tensor& weight,
                    const Tensor& bias) override;
    void swiglu(Tensor& out, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) override;
    void rms_norm_linear(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& weight, const Tensor& bias) override;
    void rms_norm_swiglu(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& w_gate, const Tensor& w_up) override;
    void rope_qkv(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv,
                  const Tensor& positions, float theta) override;
    void rms_norm_qkv_rope(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& x,
                           const Tensor& norm_weight, float eps, const Tensor& weight,
                           const Tensor& bias, const Tensor& positions, float theta) override;
    void add(Tensor& out, const Tensor& a, const Tensor& b, float alpha) override;
    void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up) override;
    void rope(Tensor& x, const Tensor& positions, float theta) override;
    void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                   const AttentionMask& mask, float scale) override;
    void cross_entropy(Tensor& out, const Tensor& logits, const Tensor& targets) override;
    void pool(Tensor& out, const Tensor& x, const Tensor& segments, PoolMode mode,
              bool normalize) override;
    void write_rows(Tensor& dst, const Tensor& src, const Tensor& rows) override;
    void argmax(Tensor& out, const Tensor& x) override;
    void sample(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
                const SampleOptions& options) override;
    void decoder_layers(Tensor& x, const std::vector<DecoderLayer>& layers,
                        const DecoderStep& step) override {
        decoder_layers_by_ops(x, layers, step);
    }
};

CpuBackend& cpu_backend();

}  // namespace ferris::cpu
