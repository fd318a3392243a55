// What gemm_sm90a.cu and its lab (dev/gemm_sm90a.cuh) share: the tile sizes, the staged output
// tile's swizzled layout, and the TMA descriptors of row-major 16-bit matrices. The 3-stage ring,
// kSmemBytes and the whole staged tile (staged_offset) are the lab's; gemm_sm90a.cu has a 4-stage
// ring and stages half a tile at a time.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ferris::cuda::sm90 {

// Output tiles of 128 x 256, K steps of 64, a 3-stage ring of x and w tiles.
constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 3;
constexpr int kStageA = kBM * kBK, kStageB = kBN * kBK;  // elements
constexpr uint32_t kStageBytes = (kStageA + kStageB) * 2;
// The ring, the staged output tile (8 blocks of 64 x 64), slack for the 1,024-byte alignment.
constexpr size_t kSmemBytes = size_t(kStages) * kStageBytes + kBM * kBN * 2 + 1024;

// Byte offset of 16-byte chunk `chunk` (0-31) of row `row` (0-127) in the staged tile: block
// (row / 64, chunk / 8) of 64 x 64 values, rows of 128 bytes, chunk c of row r at c ^ (r % 8)
// (the TMA's 128-byte swizzle; the eight rows of one stmatrix fall in different banks).
__device__ __forceinline__ uint32_t staged_offset(int row, int chunk) {
    return ((row / 64) * 4 + chunk / 8) * 8192 + (row % 64) * 128 +
           (((chunk % 8) ^ (row % 8)) * 16);
}

// The driver's cuTensorMapEncodeTiled through the runtime (no -lcuda), or null.
inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
        void* p = nullptr;
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                             &found) != cudaSuccess ||
            found != cudaDriverEntryPointSuccess)
            p = nullptr;
        return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
    }();
    return fn;
}

// A row-major (rows, cols) f16 / bf16 matrix in boxes of box_rows x box_cols (128 bytes wide at
// most) with the 128-byte swizzle.
inline CUresult encode_tile_map(CUtensorMap& map, const void* base, bool bf16, int64_t rows,
                                int64_t cols, int box_rows, int box_cols) {
    const auto encode = tensor_map_encoder();
    if (!encode) return CUDA_ERROR_NOT_SUPPORTED;
    const cuuint64_t dims[2] = {cuuint64_t(cols), cuuint64_t(rows)};
    const cuuint64_t strides[1] = {cuuint64_t(cols) * 2};
    const cuuint32_t box[2] = {cuuint32_t(box_cols), cuuint32_t(box_rows)};
    const cuuint32_t element_strides[2] = {1, 1};
    return encode(&map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                  2, const_cast<void*>(base), dims, strides, box, element_strides,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

}  // namespace ferris::cuda::sm90
