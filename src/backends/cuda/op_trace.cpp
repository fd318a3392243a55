// The op trace behind TraceScope (op_trace.h).
#include "backends/cuda/op_trace.h"

#include <cstdlib>

#include "core/op_times.h"

namespace ferris::cuda {

namespace {

struct OpTrace {
    const bool on = std::getenv("FERRIS_CUDA_TRACE") != nullptr;
    OpTimes times{"cuda op trace (synchronized wall time)"};
};

OpTrace& op_trace() {
    static OpTrace trace;
    return trace;
}

}  // namespace

TraceScope::TraceScope(cudaStream_t stream, const char* op) : stream_(stream), op_(op) {
    if (!op_trace().on) return;
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    (void)cudaStreamIsCapturing(stream_, &status);
    if (status != cudaStreamCaptureStatusNone) return;
    active_ = true;
    (void)cudaStreamSynchronize(stream_);
    start_ = std::chrono::steady_clock::now();
}

TraceScope::~TraceScope() {
    if (!active_) return;
    (void)cudaStreamSynchronize(stream_);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    op_trace().times.add(op_, s);
}

}  // namespace ferris::cuda
