// Rotary embedding launcher (HF rotate_half), in place on x (N, H, HS) f32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ferris::cuda {

// inv_freq (HS/2) f32 on the device, computed on the host exactly as the CPU backend does
// (1 / theta^(2i/HS) in f32), so the f32 angles pos * inv_freq[i] are bit-identical to the CPU's.
void rope(float* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t h,
          int64_t hs, cudaStream_t stream);

}  // namespace ferris::cuda
