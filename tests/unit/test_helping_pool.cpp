// HelpingPool: every item runs exactly once whatever the sizes, the caller alone when there is
// nothing to share, the first exception comes back and the pool works after it, and the caller
// does every grain a stalled helper did not take.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/helping_pool.h"

namespace ferris {
namespace {

TEST(HelpingPool, EveryItemRunsExactlyOnce) {
    HelpingPool pool(3);
    EXPECT_EQ(pool.helpers(), 3);
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(15), int64_t(16), int64_t(17), int64_t(1000)})
        for (int64_t grain : {int64_t(0), int64_t(1), int64_t(7), int64_t(16)}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.run(n, grain, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
            for (int64_t i = 0; i < n; ++i)
                ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                    << "n " << n << ", grain " << grain << ", item " << i;
        }
}

TEST(HelpingPool, ShortLoopsAndNoHelpersStayOnTheCaller) {
    const std::thread::id caller = std::this_thread::get_id();
    HelpingPool pool(4);
    std::vector<std::thread::id> where(16);
    pool.run(16, 16,
             [&](int64_t i) { where[static_cast<size_t>(i)] = std::this_thread::get_id(); });
    for (const auto& id : where) EXPECT_EQ(id, caller);
    HelpingPool alone(0);
    std::vector<std::thread::id> alone_where(100);
    alone.run(100, 3,
              [&](int64_t i) { alone_where[static_cast<size_t>(i)] = std::this_thread::get_id(); });
    for (const auto& id : alone_where) EXPECT_EQ(id, caller);
}

TEST(HelpingPool, TheFirstExceptionComesBackAndThePoolGoesOn) {
    HelpingPool pool(2);
    EXPECT_THROW(pool.run(100, 4,
                          [](int64_t i) {
                              if (i == 37) throw std::runtime_error("item 37");
                          }),
                 std::runtime_error);
    std::atomic<int64_t> sum{0};
    pool.run(100, 4, [&](int64_t i) { sum += i; });
    EXPECT_EQ(sum.load(), 4950);
}

// The caller works through every grain no helper has taken: a helper that takes one grain and
// stalls in it (as one the OS does not schedule would) leaves all the others to the caller, and
// the run ends as soon as that one grain does.
TEST(HelpingPool, TheCallerDoesEveryGrainAStalledHelperDidNotTake) {
    HelpingPool pool(1);
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> done{0}, on_helper{0};
    pool.run(50, 1, [&](int64_t) {
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
