// The CPU op trace behind TraceScope (op_trace.h).
#include "backends/cpu/op_trace.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/op_times.h"

namespace ferris::cpu {

namespace {

struct OpTrace {
    const bool on = std::getenv("FERRIS_CPU_TRACE") != nullptr;
    OpTimes times{"cpu op trace (self wall time)"};
    std::mutex mutex;
    std::atomic<bool> owner_set{false};
    std::thread::id owner;
    // True on the thread that entered the first traced op.
    bool is_owner() {
        if (!owner_set.load(std::memory_order_acquire)) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!owner_set.load(std::memory_order_relaxed)) {
                owner = std::this_thread::get_id();
                owner_set.store(true, std::memory_order_release);
            }
        }
        return owner == std::this_thread::get_id();
    }
};

OpTrace& op_trace() {
    static OpTrace trace;
    return trace;
}

thread_local TraceScope* t_innermost = nullptr;

}  // namespace

TraceScope::TraceScope(const char* op) : op_(op) {
    if (!op_trace().on || !op_trace().is_owner()) return;
    active_ = true;
    parent_ = t_innermost;
    t_innermost = this;
    start_ = std::chrono::steady_clock::now();
}

TraceScope::~TraceScope() {
    if (!active_) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    t_innermost = parent_;
    if (parent_) parent_->children_s_ += s;
    op_trace().times.add(op_, s - children_s_);
}

}  // namespace ferris::cpu
