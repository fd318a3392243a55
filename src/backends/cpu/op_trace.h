// FERRIS_CPU_TRACE=1: the wall time of each CPU op, summed per op name as self time (a traced op
// inside another, such as the bf16 GEMM inside `linear`, is taken out of its parent's figure);
// the table goes to stderr at exit. Only the thread that first enters a traced op is timed (the
// one that runs the model); a profiler-free way to find where a CPU forward goes, e.g. on a
// machine without `perf`.
#pragma once

#include <chrono>

namespace ferris::cpu {

class TraceScope {
public:
    explicit TraceScope(const char* op);
    ~TraceScope();
    TraceScope(const TraceScope&) = delete;
    TraceScope& operator=(const TraceScope&) = delete;

private:
    const char* op_;
    bool active_ = false;
    TraceScope* parent_ = nullptr;
    double children_s_ = 0;  // time spent in traced ops inside this one
    std::chrono::steady_clock::time_point start_;
};

}  // namespace ferris::cpu
