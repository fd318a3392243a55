// The op trace behind TraceScope (op_trace.h).
#include "backends/cuda/op_trace.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ferris::cuda {

namespace {

struct OpTrace {
    const bool on = std::getenv("FERRIS_CUDA_TRACE") != nullptr;
    std::mutex mutex;
    std::map<std::string, std::pair<double, long>> totals;  // op -> (seconds, calls)
    ~OpTrace() {
        if (!on || totals.empty()) return;
        std::vector<std::pair<std::string, std::pair<double, long>>> rows(totals.begin(),
                                                                          totals.end());
        std::sort(rows.begin(), rows.end(),
                  [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
        std::fprintf(stderr, "[ferris] cuda op trace (synchronized wall time):\n");
        for (const auto& [op, t] : rows)
            std::fprintf(stderr, "  %-14s %9.3f ms  %7ld calls  %8.2f us/call\n", op.c_str(),
                         t.first * 1e3, t.second, t.first * 1e6 / static_cast<double>(t.second));
    }
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
    std::lock_guard<std::mutex> lock(op_trace().mutex);
    auto& t = op_trace().totals[op_];
    t.first += s;
    ++t.second;
}

}  // namespace ferris::cuda
