// parallel_for: the process-wide pool, rebuilt when the thread count changes.
#include "core/parallel.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include "core/helping_pool.h"
#include "ferris/threads.h"

namespace ferris {

namespace {

std::shared_ptr<HelpingPool> compute_pool() {
    static std::mutex mutex;
    static std::shared_ptr<HelpingPool> pool;
    const int helpers = num_threads() - 1;
    std::lock_guard<std::mutex> lock(mutex);
    if (!pool || pool->helpers() != helpers) pool = std::make_shared<HelpingPool>(helpers);
    return pool;  // a run in progress keeps the pool it started on
}

}  // namespace

void parallel_for(int64_t n, int64_t min_grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    min_grain = std::max<int64_t>(1, min_grain);
    if (n <= min_grain) {
        fn(0, n);
        return;
    }
    const std::shared_ptr<HelpingPool> pool = compute_pool();
    // Four ranges a thread, but at least 32: few threads need more ranges for their finishing
    // times to even out, many threads more hand-overs on one ticket (sixteen a thread measured
    // slower than four at 16 threads on the GPU machine's host).
    const int64_t most = std::max<int64_t>(4 * (pool->helpers() + 1), 32);
    const int64_t ranges = std::min(n / min_grain, most);  // each at least min_grain
    pool->run_ranges(n, (n + ranges - 1) / ranges, fn);
}

}  // namespace ferris
