// The parallel loop of the CPU backend (and of the tokenizer): fn(begin, end) over [0, n) on the
// calling thread and a process-wide HelpingPool of num_threads() - 1 helpers, so that a loop never
// waits for a thread that has not started (core/helping_pool.h says why that matters on a busy
// machine). Replaces the OpenMP teams the CPU ops had.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

namespace ferris {

// fn(begin, end) for consecutive ranges covering [0, n) once each, of at least `min_grain` items
// (the loop stays on the calling thread when n <= min_grain) and at most four a thread or 32:
// enough that a thread the OS holds back leaves its share to the others, and that the last ranges
// even out the threads' finishing times (with eight ranges, a 2-thread prefill lost ~2% to its
// GEMMs' last ones). Blocks until all are done; the first exception fn throws is rethrown.
// Nested loops run on their caller alone.
void parallel_for(int64_t n, int64_t min_grain, const std::function<void(int64_t, int64_t)>& fn);

// The min_grain of a loop whose items cost `cost` simple operations each (a multiply-add, an
// element copied): ranges of ~16k operations, a few microseconds, worth handing to a helper.
inline int64_t min_grain_for(int64_t cost) {
    constexpr int64_t kRangeWork = 16384;
    return (kRangeWork + std::max<int64_t>(1, cost) - 1) / std::max<int64_t>(1, cost);
}

}  // namespace ferris
