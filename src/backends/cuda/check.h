// Status checks for the CUDA runtime and cuBLAS(Lt): a failing call throws ferris::Error with code
// Backend naming the call text, file and line. Every kernel launch is followed by
// FERRIS_CUDA_LAUNCH_CHECK("kernel name"), which reads cudaGetLastError.
#pragma once

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "ferris/error.h"

namespace ferris::cuda {

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status == cudaSuccess) return;
    fail(ErrorCode::Backend, "CUDA error ", cudaGetErrorName(status), " (",
         cudaGetErrorString(status), ") in ", call, " at ", file, ":", line);
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    fail(ErrorCode::Backend, "cuBLAS error ", cublasGetStatusName(status), " (",
         cublasGetStatusString(status), ") in ", call, " at ", file, ":", line);
}

}  // namespace ferris::cuda

#define FERRIS_CUDA_CHECK(call) ::ferris::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define FERRIS_CUBLAS_CHECK(call) ::ferris::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define FERRIS_CUDA_LAUNCH_CHECK(kernel) \
    ::ferris::cuda::check_cuda(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)
