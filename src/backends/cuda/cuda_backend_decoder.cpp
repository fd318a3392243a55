// CudaBackend's whole-stack decode ops, decoder_layers and decoder_greedy_step: the persistent
// decode kernel (decode_layers.cu) where it applies, else the op calls they stand for.
#include <cstdlib>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/decode_layers.cuh"
#include "backends/cuda/op_trace.h"

namespace ferris::cuda {

namespace {

bool f32_vector(const Tensor& t) { return t.dtype() == DType::F32 && t.is_contiguous(); }
bool contiguous_of(const Tensor& t, DType dtype) { return t.dtype() == dtype && t.is_contiguous(); }

}  // namespace

bool CudaBackend::decode_args(DecodeLayersArgs& a, Tensor& x,
                              const std::vector<DecoderLayer>& layers, const DecoderStep& step) {
    if (layers.size() > kDecodeMaxLayers || !x.is_contiguous() ||
        std::getenv("FERRIS_CUDA_NO_PERSISTENT"))
        return false;
    const DecoderLayer& first = layers.front();
    a.n_layers = static_cast<int>(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
        const DecoderLayer& l = layers[i];
        bool fits = f32_vector(l.attn_norm) && f32_vector(l.mlp_norm) &&
                    (!l.qkv_bias.defined() || f32_vector(l.qkv_bias)) &&
                    l.k_cache.dtype() == first.k_cache.dtype() &&
                    l.k_cache.strides()[1] == first.k_cache.strides()[1] &&
                    l.v_cache.strides()[1] == first.v_cache.strides()[1];
        for (const Tensor* w : {&l.qkv, &l.o, &l.gate, &l.up, &l.down})
            fits = fits && contiguous_of(*w, first.qkv.dtype());
        if (!fits) return false;
        a.layers[i] = {l.attn_norm.data<float>(),
                       l.qkv.raw(),
                       l.qkv_bias.defined() ? l.qkv_bias.data<float>() : nullptr,
                       l.o.raw(),
                       l.mlp_norm.data<float>(),
                       l.gate.raw(),
                       l.up.raw(),
                       l.down.raw(),
                       l.k_cache.raw(),
                       l.v_cache.raw()};
    }
    a.x = x.data<float>();
    a.weight_dtype = first.qkv.dtype();
    a.cache_dtype = first.k_cache.dtype();
    a.c = x.size(1), a.inter = first.gate.size(0), a.nh = step.heads;
    a.nkv = first.k_cache.size(2), a.hs = first.k_cache.size(3);
    a.k_seq = first.k_cache.strides()[1], a.v_seq = first.v_cache.strides()[1];
    a.position = step.position.data<int32_t>();
    a.keys = step.key_count.data<int32_t>();
    a.eps = step.eps, a.scale = step.scale;
    return true;
}

void CudaBackend::run_decode(DecodeLayersArgs& a, float theta) {
    a.inv_freq = inv_freq(theta, a.hs).data<float>();
    const auto floats = static_cast<int64_t>(decode_layers_scratch_floats(a));
    // The backend's own scratch, made (and zeroed by the first launch's memset) outside a
    // capture: a block made during one belongs to that graph. A capture before any plain launch
    // (DeviceStepper makes one first) takes its own scratch, with a memset node.
    Tensor scratch;
    const auto handoff = static_cast<int64_t>(decode_layers_handoff_words(a));
    if (!decode_scratch_.empty() && decode_scratch_.back().numel() >= floats) {
        scratch = decode_scratch_.back();
        a.scratch_clean = decode_scratch_handoff_ == handoff;
    } else {
        scratch = empty({floats}, DType::F32);
        if (!allocator_.capturing()) decode_scratch_.push_back(scratch);
    }
    // This launch zeroes the words or finds them clean (a launch inside a capture runs later).
    if (!allocator_.capturing() && !decode_scratch_.empty() &&
        scratch.data<float>() == decode_scratch_.back().data<float>())
        decode_scratch_handoff_ = handoff;
    a.scratch = scratch.data<float>();
    decode_layers(a, stream_);
}

void CudaBackend::decoder_layers(Tensor& x, const std::vector<DecoderLayer>& layers,
                                 const DecoderStep& step) {
    activate();
    const TraceScope trace_scope(stream_, "decoder_layers");
    DecodeLayersArgs a;
    if (!decode_args(a, x, layers, step) || !decode_layers_applies(a))
        return decoder_layers_by_ops(x, layers, step);
    run_decode(a, step.theta);
}

void CudaBackend::decoder_greedy_step(Tensor& token, Tensor& logits, Tensor& x,
                                      const DecoderHead& head,
                                      const std::vector<DecoderLayer>& layers,
                                      const DecoderStep& step) {
    activate();
    DecodeLayersArgs a;
    const DType dt = layers.front().qkv.dtype();
    // FERRIS_CUDA_NO_FUSED_HEAD=1: the embedding, LM head and argmax as their own kernels around
    // the layer kernel (for A/B runs).
    const bool fits = !std::getenv("FERRIS_CUDA_NO_FUSED_HEAD") &&
                      decode_args(a, x, layers, step) && contiguous_of(head.embed, dt) &&
                      contiguous_of(head.lm_head, dt) && f32_vector(head.final_norm) &&
                      f32_vector(logits) && token.is_contiguous();
    if (fits) {
        a.token = token.data<int32_t>();
        a.embed = head.embed.raw();
        a.embed_rows = head.embed.size(0);
        a.final_norm = head.final_norm.data<float>();
        a.lm_head = head.lm_head.raw();
        a.vocab = head.lm_head.size(0);
        a.logits = logits.data<float>();
    }
    if (!fits || !decode_layers_applies(a))
        return Backend::decoder_greedy_step(token, logits, x, head, layers, step);
    const TraceScope trace_scope(stream_, "decoder_greedy_step");
    run_decode(a, step.theta);
}

}  // namespace ferris::cuda
