// Kernel launches with programmatic dependent launch (PDL, sm_90+): the next kernel of the stream
// is scheduled while this one finishes, which hides most of the ~2 us gap between the many small
// kernels of a decode step (in a CUDA graph as in a stream). Contract for a kernel launched with
// launch_dependent(): its first statement is pdl_begin(), which waits until the previous kernel has
// completed and its writes are visible, then lets the next kernel be scheduled. Before Hopper, or
// with FERRIS_CUDA_NO_PDL=1, launch_dependent() is a plain launch and pdl_begin() does nothing.
// Included only by .cu files.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

#include "backends/cuda/check.h"

namespace ferris::cuda {

__device__ __forceinline__ void pdl_begin() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Whether the current device takes PDL launches (compute capability 9+), and it is not disabled.
inline bool pdl_enabled() {
    static const bool disabled = std::getenv("FERRIS_CUDA_NO_PDL") != nullptr;
    if (disabled) return false;
    constexpr int kMaxDevices = 64;
    static std::atomic<int> major[kMaxDevices] = {};  // 0: not asked yet
    int device = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    if (device < 0 || device >= kMaxDevices) return false;
    if (major[device].load() == 0) {
        int m = 0;
        FERRIS_CUDA_CHECK(cudaDeviceGetAttribute(&m, cudaDevAttrComputeCapabilityMajor, device));
        major[device].store(m);
    }
    return major[device].load() >= 9;
}

// Multiprocessors of the current device (asked once per device).
inline int sm_count() {
    constexpr int kMaxDevices = 64;
    static std::atomic<int> sms[kMaxDevices] = {};  // 0: not asked yet
    int device = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    if (device < 0 || device >= kMaxDevices) return 1;
    if (sms[device].load() == 0) {
        int n = 0;
        FERRIS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
        sms[device].store(n > 0 ? n : 1);
    }
    return sms[device].load();
}

// Blocks of `kernel` resident on one multiprocessor at `threads` and `smem` bytes of dynamic
// shared memory (the occupancy calculator, asked once per kernel and size).
template <typename... Params>
int resident_blocks(void (*kernel)(Params...), int threads, size_t smem) {
    static std::mutex mutex;
    static std::map<std::tuple<const void*, int, size_t, int>, int> known;
    int device = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&device));
    const auto key = std::make_tuple(reinterpret_cast<const void*>(kernel), threads, smem, device);
    const std::lock_guard<std::mutex> lock(mutex);
    auto it = known.find(key);
    if (it == known.end()) {
        int blocks = 0;
        FERRIS_CUDA_CHECK(
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem));
        it = known.emplace(key, blocks > 0 ? blocks : 1).first;
    }
    return it->second;
}

template <typename... Params, typename... Args>
void launch_dependent(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
                      size_t smem, cudaStream_t stream, Args&&... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    cudaLaunchAttribute attribute = {};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &attribute;
    config.numAttrs = pdl_enabled() ? 1 : 0;
    check_cuda(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...), name, __FILE__,
               __LINE__);
}

}  // namespace ferris::cuda
