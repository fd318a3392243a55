// The end of a greedy step inside the persistent decode kernel (decode_layers.cu): after the last
// layer the compute blocks share the LM head's rows, each block keeps its largest logit and the
// first row that has it, and one 64-bit atomicMax of (value's order bits, inverted row) per block
// gives the step's argmax. The last block to finish writes the token, so that nothing but the
// token id leaves the launch (and the next step's embedding row is read inside it).
#pragma once

#include <climits>

#include "backends/cuda/argmax_key.h"
#include "backends/cuda/decode_layers_parts.cuh"
#include "backends/cuda/device_util.cuh"

namespace ferris::cuda::decode {

// Where the argmax meets in the launch's scratch (zeroed before the launch with the barrier
// word): a count of finished blocks at word 1, the packed maximum at words 2-3.
__device__ __forceinline__ unsigned* head_done(float* scratch) {
    return reinterpret_cast<unsigned*>(scratch) + 1;
}
__device__ __forceinline__ unsigned long long* head_best(float* scratch) {
    return reinterpret_cast<unsigned long long*>(scratch + 2);
}

// The block's (value, first row) into the launch's maximum; the last block of `blocks` to arrive
// writes the token (row 0 when no logit was a number, as the argmax op gives). Uniform across the
// block.
__device__ __forceinline__ void finish_argmax(float best, int best_row, float* scratch, int blocks,
                                              int32_t* token) {
    block_best(best, best_row);
    if (threadIdx.x == 0) {
        if (best_row != INT_MAX)
            atomicMax(head_best(scratch),
                      static_cast<unsigned long long>(argmax_key(best, best_row)));
        __threadfence();
        if (atomicAdd(head_done(scratch), 1u) == static_cast<unsigned>(blocks) - 1) {
            __threadfence();
            *token = argmax_row(atomicAdd(head_best(scratch), 0ull));
        }
    }
}

}  // namespace ferris::cuda::decode
