// Attention launchers: prefill (flash-attention style, online softmax over key tiles, no T x S
// matrix) and decode (few queries: the key range is split over blocks, flash-decoding, then a
// combine kernel). GQA, causal or bidirectional, right padding or packed segments, and relative
// bias, with the semantics of AttentionMask (backends/backend.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

struct AttentionArgs {
    float* out;      // (B, T, NH, HS)
    const float* q;  // (B, T, NH, HS) contiguous
    const void* k;   // (B, S, NKV, HS): element (b, s, kvh, d) at b*k_batch + s*k_seq + kvh*HS + d
    const void* v;   // same layout as k, its own strides
    DType kv_dtype;  // k and v share it (the backend converts when they differ)
    int64_t b_n, t_n, nh, hs, s_n, nkv;
    int64_t k_batch, k_seq, v_batch, v_seq;  // element strides
    bool causal;
    int64_t q_offset;
    const int32_t* key_lengths;  // (B) or null
    const int32_t* segments;     // (NS + 1) offsets of packed sequences or null (B == 1, T == S)
    int64_t n_segments;          // NS
    const float* bias;           // (NH, bias_width = 2W - 1) or null: bias[h, s - t + W - 1]
    int64_t bias_width;
    float scale;
};

constexpr int64_t kMaxAttentionHeadSize = 256;
constexpr int64_t kDecodeMaxQueries = 15;  // T at or below this takes the split-K decode path

// Floats of scratch the launcher needs for `sms` multiprocessors (0 for prefill).
size_t attention_scratch_floats(const AttentionArgs& a, int sms);
void attention(const AttentionArgs& a, int sms, float* scratch, cudaStream_t stream);

}  // namespace ferris::cuda
