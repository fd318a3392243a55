// Cross-entropy launcher: out (N) f32 = logsumexp(logits[n]) - logits[n, targets[n]].
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ferris::cuda {

void cross_entropy(float* out, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                   cudaStream_t stream);

}  // namespace ferris::cuda
