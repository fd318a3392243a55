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
    void* out;       // (B, T, NH, HS), in io_dtype
    const void* q;   // (B, T, NH, HS), in io_dtype: element (b, t, h, d) at b*q_batch + t*q_seq +
                     // h*HS + d (contiguous for every kernel but the tensor-core one)
    DType io_dtype;  // q and out: f32 (every kernel), or bf16/f16 (the tensor-core kernel only)
    const void* k;   // (B, S, NKV, HS): element (b, s, kvh, d) at b*k_batch + s*k_seq + kvh*HS + d
    const void* v;   // same layout as k, its own strides
    DType kv_dtype;  // k and v share it (the backend converts when they differ)
    int64_t b_n, t_n, nh, hs, s_n, nkv;
    int64_t k_batch, k_seq, v_batch, v_seq;  // element strides
    int64_t q_batch, q_seq;
    bool causal;
    int64_t q_offset;
    const int32_t* key_lengths;  // (B) or null
    const int32_t* segments;     // (NS + 1) offsets of packed sequences or null (B == 1, T == S)
    int64_t n_segments;          // NS
    int64_t longest_segment;     // >= every segment's length, or 0 (unknown)
    // Optional (the packed kernel): its live blocks, one per 64 query rows of a sequence, four
    // ints each (the sequence's begin and end, the chunk, 0; 16-byte aligned), from the host's copy
    // of the segments; null: every sequence x chunk block.
    const int32_t* tiles = nullptr;
    int64_t n_tiles = 0;  // entries, not ints
    const float* bias;    // (NH, bias_width = 2W - 1) or null: bias[h, s - t + W - 1]
    int64_t bias_width;
    float scale;
    // F32: exact f32 arithmetic. BF16/F16: q, k, v and the probabilities may be rounded to half
    // precision so that tensor cores do the products (f32 accumulation), as flash-attention does:
    // to the cache's dtype when k/v are f16/bf16, else to this one.
    DType precision = DType::F32;
};

constexpr int64_t kMaxAttentionHeadSize = 256;
constexpr int kPackedRows = 64;  // query rows a block of the packed kernel (AttentionArgs::tiles)
constexpr int64_t kDecodeMaxQueries = 15;  // T at or below this takes the split-K decode path

// Floats of scratch the launcher needs for `sms` multiprocessors (0 for prefill).
size_t attention_scratch_floats(const AttentionArgs& a, int sms);
void attention(const AttentionArgs& a, int sms, float* scratch, cudaStream_t stream);
// The tensor-core prefill kernel (attention_tc.cu); false when it does not apply (f32 precision,
// head size other than 32/64/128, unaligned rows), and then nothing was launched.
bool attention_tensor_cores(const AttentionArgs& a, cudaStream_t stream);
// The encoders' case (attention_packed.cu): packed segments, not causal, the longest known, half
// q/k/v/out. False when it does not apply, and then nothing was launched.
bool attention_packed(const AttentionArgs& a, cudaStream_t stream);

}  // namespace ferris::cuda
