// parallel_for: every index once in ranges of at least min_grain (but the last) and at most four
// a thread or 32, the calling thread alone for short loops, and the pool follows set_num_threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "ferris/threads.h"

namespace ferris {
namespace {

struct ThreadCount {  // restores the thread count a test changed
    int saved = num_threads();
    ~ThreadCount() { set_num_threads(saved); }
};

TEST(ParallelFor, EveryIndexOnceInRangesOfTheGrain) {
    ThreadCount restore;
    for (int threads : {1, 2, 3, 8}) {
        set_num_threads(threads);
        for (int64_t n : {int64_t(1), int64_t(5), int64_t(64), int64_t(1000), int64_t(100003)})
            for (int64_t min_grain : {int64_t(1), int64_t(7), int64_t(1000)}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                std::mutex mutex;
                std::vector<std::pair<int64_t, int64_t>> ranges;
                parallel_for(n, min_grain, [&](int64_t begin, int64_t end) {
                    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
                    std::lock_guard<std::mutex> lock(mutex);
                    ranges.emplace_back(begin, end);
                });
                for (int64_t i = 0; i < n; ++i)
                    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                        << threads << " threads, n " << n << ", min_grain " << min_grain;
                std::sort(ranges.begin(), ranges.end());
                EXPECT_LE(static_cast<int64_t>(ranges.size()), std::max(4 * threads, 32));
                for (size_t r = 0; r + 1 < ranges.size(); ++r)
                    EXPECT_GE(ranges[r].second - ranges[r].first, min_grain);
            }
    }
}

TEST(ParallelFor, ShortLoopsStayOnTheCallingThread) {
    ThreadCount restore;
    set_num_threads(4);
    const std::thread::id caller = std::this_thread::get_id();
    std::set<std::thread::id> where;
    parallel_for(100, 100, [&](int64_t begin, int64_t end) {
        EXPECT_EQ(begin, 0);
        EXPECT_EQ(end, 100);
        where.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(where, std::set<std::thread::id>{caller});
}

// With one thread there is no helper: everything runs on the caller; with more, the loop is
// shared (helpers spin between loops, so a long enough loop reaches one).
TEST(ParallelFor, ThePoolFollowsTheThreadCount) {
    ThreadCount restore;
    const auto threads_used = [] {
        std::mutex mutex;
        std::set<std::thread::id> where;
        for (int k = 0; k < 200; ++k)
            parallel_for(64, 1, [&](int64_t, int64_t) {
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
                while (std::chrono::steady_clock::now() < until) {
                }
                std::lock_guard<std::mutex> lock(mutex);
                where.insert(std::this_thread::get_id());
            });
        return where.size();
    };
    set_num_threads(1);
    EXPECT_EQ(threads_used(), 1u);
    set_num_threads(3);
    const size_t used = threads_used();
    EXPECT_GE(used, 2u);
    EXPECT_LE(used, 3u);
}

}  // namespace
}  // namespace ferris
