// The persistent decode kernel (decode_layers.cu): every decoder layer of one token's step in a
// single launch, one block a multiprocessor, the layers' phases separated by grid-wide barriers
// instead of kernel boundaries. Between two phases each block already has its first weight loads
// of the next phase in flight when it reaches the barrier, so the DRAM never idles the ~3 us a
// kernel boundary costs (about 150 of them a token for Qwen2.5-0.5B).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

constexpr int kDecodeMaxLayers = 64;  // the layer table travels in the kernel's parameters

// One layer's tensors, all on the device. Weights are bf16 or f16 (one dtype for all), norm
// weights and the bias f32; the caches (S, NKV, HS) rows at k_seq / v_seq elements.
struct DecodeLayerPointers {
    const float* attn_norm;  // (C)
    const void* qkv;         // ((NH + 2 NKV) HS, C): q, k, v stacked
    const float* qkv_bias;   // ((NH + 2 NKV) HS) or null
    const void* o;           // (C, NH HS)
    const float* mlp_norm;   // (C)
    const void* gate;        // (I, C)
    const void* up;          // (I, C)
    const void* down;        // (C, I)
    void* k_cache;
    void* v_cache;
};

struct DecodeLayersArgs {
    DecodeLayerPointers layers[kDecodeMaxLayers];
    int n_layers = 0;
    float* x = nullptr;  // (C) f32 residual stream, updated in place
    DType weight_dtype = DType::BF16, cache_dtype = DType::F32;
    int64_t c = 0, inter = 0, nh = 0, nkv = 0, hs = 0;
    int64_t k_seq = 0, v_seq = 0;
    const int32_t* position = nullptr;  // (1) i32: the token's cache row
    const int32_t* keys = nullptr;      // (1) i32: keys the query sees (position + 1)
    const float* inv_freq = nullptr;    // (HS / 2) f32, the rope op's frequencies
    float eps = 0.0f, scale = 1.0f;
    float* scratch = nullptr;  // decode_layers_scratch_floats(), 16-byte aligned
    // The scratch's header is already zero (a scratch some launch used before; each launch leaves
    // it zeroed): no memset before the launch.
    bool scratch_clean = false;
    // A whole greedy step (Backend::decoder_greedy_step) when `token` is set: x starts as the
    // token's row of `embed` (x's input is not read); after the layers, logits (vocab) f32 =
    // rms_norm(x, final_norm) lm_head^T (when logits is set) and *token = their argmax.
    int32_t* token = nullptr;
    const void* embed = nullptr;  // (embed_rows, C), the weights' dtype
    int64_t embed_rows = 0;
    const float* final_norm = nullptr;  // (C)
    const void* lm_head = nullptr;      // (vocab, C), the weights' dtype
    int64_t vocab = 0;
    float* logits = nullptr;
    // Blocks that only prefetch the weights into L2 (decode_prefetch.cuh), -1 for the default
    // (FERRIS_CUDA_PREFETCH_BLOCKS, else 6), and how far ahead of the compute blocks' phase.
    int prefetch_blocks = -1;
    int64_t prefetch_ahead = 32 << 20;
};

// Whether the kernel takes these shapes and pointers (else the caller composes the ops).
bool decode_layers_applies(const DecodeLayersArgs& a);
// Floats of scratch the launch needs on the current device.
size_t decode_layers_scratch_floats(const DecodeLayersArgs& a);
// The 64-bit words at the scratch's start, after its header, that hand values between blocks
// (decode_handoff.cuh): a launch that is not `scratch_clean` zeroes them with the header, and a
// scratch is clean for a launch only if the last launch on it had as many.
size_t decode_layers_handoff_words(const DecodeLayersArgs& a);
// Runs the layers (a cooperative launch: all blocks resident, as the barriers need).
void decode_layers(const DecodeLayersArgs& a, cudaStream_t stream);

}  // namespace ferris::cuda
