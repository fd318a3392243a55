// Wall time summed per op name and printed as a table to stderr when the object is destroyed
// (at exit for a static): what the backends' op traces (FERRIS_CPU_TRACE, FERRIS_CUDA_TRACE)
// collect into.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace ferris {

class OpTimes {
public:
    // `title` heads the table, e.g. "cpu op trace (self wall time)".
    explicit OpTimes(const char* title) : title_(title) {}
    ~OpTimes();
    OpTimes(const OpTimes&) = delete;
    OpTimes& operator=(const OpTimes&) = delete;

    void add(const char* op, double seconds);

private:
    const char* title_;
    std::mutex mutex_;
    std::map<std::string, std::pair<double, long>> totals_;  // op -> (seconds, calls)
};

}  // namespace ferris
