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

// The LM head's shares are long (over 600 row pairs a block for a 151,936-word vocabulary) and
// come from DRAM, not L2: more loads in flight than a layer's products keep. 16 threads a pair of
// rows, 7 chunks of each row a thread: a row of 896 columns (112 chunks) in one round trip.
#ifndef FERRIS_DECODE_HEAD_TEAM  // the lab builds other shapes
#define FERRIS_DECODE_HEAD_TEAM 16
#endif
#ifndef FERRIS_DECODE_HEAD_LOADS
#define FERRIS_DECODE_HEAD_LOADS 7
#endif
constexpr int kHeadTeam = FERRIS_DECODE_HEAD_TEAM;
using HeadLoads = LoadsOf<FERRIS_DECODE_HEAD_LOADS>;

// Where the argmax meets in the launch's scratch header (decode_layers_parts.cuh).
__device__ __forceinline__ unsigned* head_done(float* scratch) {
    return reinterpret_cast<unsigned*>(scratch) + kHeadDoneWord;
}
__device__ __forceinline__ unsigned long long* head_best(float* scratch) {
    return reinterpret_cast<unsigned long long*>(scratch + kHeadBestWord);
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
