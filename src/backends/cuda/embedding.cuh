// Embedding lookup launcher: gathers rows of a (V, C) table (f32/f16/bf16) into f32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// out (N, C) f32 = table[ids]; table (V, C) of table_dtype; ids (N) i32 on the device.
void embedding(float* out, const void* table, DType table_dtype, const int32_t* ids, int64_t n,
               int64_t c, cudaStream_t stream);

}  // namespace ferris::cuda
