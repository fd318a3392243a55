// The CPU op trace behind TraceScope (op_trace.h).
#include "backends/cpu/op_trace.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ferris::cpu {

namespace {

struct OpTrace {
    const bool on = std::getenv("FERRIS_CPU_TRACE") != nullptr;
    std::mutex mutex;
    std::map<std::string, std::pair<double, long>> totals;  // op -> (self seconds, calls)
    std::atomic<bool> owner_set{false};
    std::thread::id owner;
    ~OpTrace() {
        if (!on || totals.empty()) return;
        std::vector<std::pair<std::string, std::pair<double, long>>> rows(totals.begin(),
                                                                          totals.end());
        std::sort(rows.begin(), rows.end(),
                  [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
        double all = 0;
        for (const auto& row : rows) all += row.second.first;
        std::fprintf(stderr, "[ferris] cpu op trace (self wall time, %.3f ms in all):\n",
                     all * 1e3);
        for (const auto& [op, t] : rows)
            std::fprintf(stderr, "  %-18s %9.3f ms  %5.1f%%  %7ld calls  %9.2f us/call\n",
                         op.c_str(), t.first * 1e3, 100.0 * t.first / all, t.second,
                         t.first * 1e6 / static_cast<double>(t.second));
    }
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
    std::lock_guard<std::mutex> lock(op_trace().mutex);
    auto& t = op_trace().totals[op_];
    t.first += s - children_s_;
    ++t.second;
}

}  // namespace ferris::cpu
