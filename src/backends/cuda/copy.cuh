// Device-side copy launchers: element-wise copies between float dtypes (f32/f16/bf16, round to
// nearest even) or raw copies of one dtype (any, ints included), over strided layouts of up to
// kMaxCopyDims dims. Host <-> device transfers are in transfer.cpp; they call these for the
// strided or converting part on the device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ferris/dtype.h"

namespace ferris::cuda {

constexpr int kMaxCopyDims = 8;

// Shape and element strides of both sides (dims already coalesced by the caller).
struct CopyLayout {
    int dims = 0;
    int64_t shape[kMaxCopyDims] = {};
    int64_t src_stride[kMaxCopyDims] = {};
    int64_t dst_stride[kMaxCopyDims] = {};
};

// dst[layout] = convert(src[layout]); numel = product of layout.shape.
void copy_strided(void* dst, DType dst_dtype, const void* src, DType src_dtype,
                  const CopyLayout& layout, int64_t numel, cudaStream_t stream);
// dst[i] = convert(src[i]) for i < n (both contiguous).
void convert_contiguous(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n,
                        cudaStream_t stream);

}  // namespace ferris::cuda
