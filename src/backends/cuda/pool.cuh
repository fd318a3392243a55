// Sentence pooling launcher: per packed sequence, mean / first row / max over its rows, then an
// optional L2 normalization. x (N, C) f32; segments (NS + 1) i32 offsets; out (NS, C) f32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

// mode: 0 mean, 1 first row (CLS), 2 max (PoolMode's order in backends/backend.h).
// x (N, C) f32, f16 or bf16; out (NS, C) f32.
void pool(float* out, const void* x, DType x_dtype, const int32_t* segments, int64_t n_segments,
          int64_t c, int mode, bool normalize, cudaStream_t stream);

}  // namespace ferris::cuda
