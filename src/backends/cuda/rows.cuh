// Row launchers: write_rows (dst[b, rows[t]] = src[b, t], f32 -> the KV cache's dtype, positions
// read on the device so a captured graph stays valid as they change) and argmax per row.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// src (B, T, row) f32 contiguous; dst row (b, p) starts at element b * dst_batch + p * dst_seq.
void write_rows(void* dst, DType dst_dtype, int64_t dst_batch, int64_t dst_seq, const float* src,
                const int32_t* rows, int64_t b_n, int64_t t_n, int64_t row, cudaStream_t stream);
// out (n) i32: the first index of each row's maximum of x (n, v) f32. scratch: at least
// argmax_scratch_bytes(n, v) bytes, 8-byte aligned.
size_t argmax_scratch_bytes(int64_t n, int64_t v);
void argmax(int32_t* out, const float* x, int64_t n, int64_t v, void* scratch, cudaStream_t stream);

}  // namespace ferris::cuda
