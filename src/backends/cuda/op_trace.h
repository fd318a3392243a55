// FERRIS_CUDA_TRACE=1: every op synchronizes and its wall time is summed per op; the table goes
// to stderr at exit. A profiler-free way to find hot spots (it serializes host and GPU).
#pragma once

#include <cuda_runtime_api.h>

#include <chrono>

namespace ferris::cuda {

// Times the op for the trace while it lives (nothing when the trace is off or the stream is
// being captured into a graph).
class TraceScope {
public:
    TraceScope(cudaStream_t stream, const char* op);
    ~TraceScope();
    TraceScope(const TraceScope&) = delete;
    TraceScope& operator=(const TraceScope&) = delete;

private:
    cudaStream_t stream_;
    const char* op_;
    bool active_ = false;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace ferris::cuda
