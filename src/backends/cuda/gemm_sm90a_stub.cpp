// gemm_sm90a for builds without sm_90a code (the CUDA architectures leave out 90): it never fits,
// so callers always take cuBLASLt.
#include "backends/cuda/gemm_sm90a.h"
#include "ferris/error.h"

#ifndef FERRIS_CUDA_SM90A
namespace ferris::cuda {

bool gemm_sm90a_fits(DType, int64_t, int64_t, int64_t, const void*, const void*, const void*,
                     const void*) {
    return false;
}

void gemm_sm90a(void*, const void*, const void*, const void*, DType, bool, int64_t, int64_t,
                int64_t, CUstream_st*) {
    fail(ErrorCode::Backend, "gemm_sm90a: this build has no sm_90a code");
}

}  // namespace ferris::cuda
#endif
