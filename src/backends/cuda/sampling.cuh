// Launcher of the `sample` op (see sampling.cu): a few kernels on the stream, no host sync and no
// allocation, so a recorded decode step (a CUDA graph) can end with it. The caller hands over
// sample_scratch_words(V) words of device scratch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ferris::cuda {

struct SampleArgs {
    int32_t* out;              // (1): the chosen id
    const float* logits;       // (V)
    int32_t* seen;             // (V) 0/1: the repetition penalty's ids; out's id is set to 1
    const int64_t* uniform;    // (1): u * 2^53
    int32_t v;                 // V
    float temperature;         // 0 = greedy
    int32_t top_k;             // 0 = off
    float top_p;               // 1 = off
    float min_p;               // 0 = off
    float repetition_penalty;  // 1 = off
};

// 4-byte words of scratch for a vocabulary of v.
int64_t sample_scratch_words(int64_t v);

void sample(const SampleArgs& args, void* scratch, cudaStream_t stream);

}  // namespace ferris::cuda
