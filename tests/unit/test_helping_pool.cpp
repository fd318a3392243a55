// HelpingPool: every item runs exactly once whatever the sizes (also over many back-to-back runs
// of changing shapes, and from two threads at once), the caller alone when there is nothing to
// share or the run is nested, the first exception comes back and the pool works after it, and
// the caller does every grain a stalled helper did not take.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/helping_pool.h"

namespace ferris {
namespace {

// fn(i) for every i in [0, n), in grains of `grain` items: the pool's ranges item by item.
template <typename Fn>
void run_items(HelpingPool& pool, int64_t n, int64_t grain, Fn&& fn) {
    pool.run_ranges(n, grain, [&fn](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) fn(i);
    });
}

TEST(HelpingPool, EveryItemRunsExactlyOnce) {
    HelpingPool pool(3);
    EXPECT_EQ(pool.helpers(), 3);
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(15), int64_t(16), int64_t(17), int64_t(1000)})
        for (int64_t grain : {int64_t(0), int64_t(1), int64_t(7), int64_t(16)}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            run_items(pool, n, grain,
                      [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
            for (int64_t i = 0; i < n; ++i)
                ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                    << "n " << n << ", grain " << grain << ", item " << i;
        }
}

TEST(HelpingPool, RangesAreTheGrainsInOrderOfTheirStart) {
    HelpingPool pool(3);
    std::mutex mutex;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    pool.run_ranges(103, 10, [&](int64_t begin, int64_t end) {
        std::lock_guard<std::mutex> lock(mutex);
        ranges.emplace_back(begin, end);
    });
    std::sort(ranges.begin(), ranges.end());
    ASSERT_EQ(ranges.size(), 11u);
    for (size_t g = 0; g < ranges.size(); ++g) {
        EXPECT_EQ(ranges[g].first, static_cast<int64_t>(g) * 10);
        EXPECT_EQ(ranges[g].second, std::min<int64_t>(103, static_cast<int64_t>(g + 1) * 10));
    }
}

// Thousands of short runs back to back, each of another size and grain: a helper still on an
// earlier run's ticket must never take a range of the next run (a range run twice, or with the
// earlier run's bounds, shows in the counts).
TEST(HelpingPool, BackToBackRunsOfChangingShapes) {
    HelpingPool pool(3);
    std::vector<std::atomic<int>> hits(257);
    for (int run = 0; run < 20000; ++run) {
        const int64_t n = 1 + (run * 37) % 257, grain = 1 + (run * 11) % 9;
        pool.run_ranges(n, grain, [&](int64_t begin, int64_t end) {
            ASSERT_LE(end - begin, grain);
            for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i)
            ASSERT_EQ(hits[static_cast<size_t>(i)].exchange(0), 1)
                << "run " << run << ", item " << i;
    }
}

TEST(HelpingPool, NestedAndConcurrentRunsComplete) {
    HelpingPool pool(2);
    const auto nested_sum = [&] {
        std::atomic<int64_t> sum{0};
        run_items(pool, 40, 1, [&](int64_t i) {
            const std::thread::id outer = std::this_thread::get_id();
            run_items(pool, 10, 1, [&](int64_t j) {
                EXPECT_EQ(std::this_thread::get_id(), outer) << "a nested run left its thread";
                sum += i * 10 + j;
            });
        });
        return sum.load();
    };
    int64_t other = 0;
    std::thread second([&] {
        for (int k = 0; k < 50; ++k) other += nested_sum();
    });
    int64_t mine = 0;
    for (int k = 0; k < 50; ++k) mine += nested_sum();
    second.join();
    EXPECT_EQ(mine, 50 * 79800);  // the sum of 0 .. 399
    EXPECT_EQ(other, 50 * 79800);
}

TEST(HelpingPool, ShortLoopsAndNoHelpersStayOnTheCaller) {
    const std::thread::id caller = std::this_thread::get_id();
    HelpingPool pool(4);
    std::vector<std::thread::id> where(16);
    run_items(pool, 16, 16,
              [&](int64_t i) { where[static_cast<size_t>(i)] = std::this_thread::get_id(); });
    for (const auto& id : where) EXPECT_EQ(id, caller);
    HelpingPool alone(0);
    std::vector<std::thread::id> alone_where(100);
    run_items(alone, 100, 3,
              [&](int64_t i) { alone_where[static_cast<size_t>(i)] = std::this_thread::get_id(); });
    for (const auto& id : alone_where) EXPECT_EQ(id, caller);
}

TEST(HelpingPool, TheFirstExceptionComesBackAndThePoolGoesOn) {
    HelpingPool pool(2);
    EXPECT_THROW(run_items(pool, 100, 4,
                           [](int64_t i) {
                               if (i == 37) throw std::runtime_error("item 37");
                           }),
                 std::runtime_error);
    std::atomic<int64_t> sum{0};
    run_items(pool, 100, 4, [&](int64_t i) { sum += i; });
    EXPECT_EQ(sum.load(), 4950);
}

// The caller works through every grain no helper has taken: a helper that takes one grain and
// stalls in it (as one the OS does not schedule would) leaves all the others to the caller, and
// the run ends as soon as that one grain does.
TEST(HelpingPool, TheCallerDoesEveryGrainAStalledHelperDidNotTake) {
    HelpingPool pool(1);
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> done{0}, on_helper{0};
    run_items(pool, 50, 1, [&](int64_t) {
        if (std::this_thread::get_id() != caller && on_helper.fetch_add(1) == 0) {
            const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (done.load() < 49 && std::chrono::steady_clock::now() < limit)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            EXPECT_EQ(done.load(), 49) << "the caller waited for the stalled helper";
        }
        ++done;
    });
    EXPECT_EQ(done.load(), 50);
    EXPECT_LE(on_helper.load(), 1);  // once stalled, the helper found nothing left
}

}  // namespace
}  // namespace ferris
