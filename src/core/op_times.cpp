// The table behind OpTimes (op_times.h): ops by time, with their share, calls and time a call.
#include "core/op_times.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace ferris {

void OpTimes::add(const char* op, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& t = totals_[op];
    t.first += seconds;
    ++t.second;
}

OpTimes::~OpTimes() {
    if (totals_.empty()) return;
    std::vector<std::pair<std::string, std::pair<double, long>>> rows(totals_.begin(),
                                                                      totals_.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    double all = 0;
    for (const auto& row : rows) all += row.second.first;
    std::fprintf(stderr, "[ferris] %s, %.3f ms in all:\n", title_, all * 1e3);
    for (const auto& [op, t] : rows)
        std::fprintf(stderr, "  %-18s %9.3f ms  %5.1f%%  %7ld calls  %9.2f us/call\n", op.c_str(),
                     t.first * 1e3, 100.0 * t.first / std::max(all, 1e-30), t.second,
                     t.first * 1e6 / static_cast<double>(t.second));
}

}  // namespace ferris
