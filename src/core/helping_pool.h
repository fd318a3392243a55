// A parallel loop whose caller never waits for a thread that has not started yet: the caller
// works through the grains itself and, at the end, waits only for the grains that helper threads
// have already taken. An OpenMP team ends with a barrier that every member must reach, so one
// member the OS schedules late (another process busy on the cores) holds the whole loop up: ~8 ms
// a loop on a loaded machine, against ~0.1 ms of work for a few dozen texts to tokenize, and one
// CPU query of a small encoder went from 6.7 to 508 ms beside one busy process
// (dev/NOTES_EMBED.md, eighteenth session). Used for the tokenizer and, through parallel_for
// (core/parallel.h), for every parallel loop of the CPU backend.
//
// Grains are handed out by one atomic ticket, so a loop costs a few atomic operations a grain.
// Helpers spin for a short while after a loop (the CPU backend runs hundreds of loops a decoded
// token, back to back) and then sleep until the next one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferris {

class HelpingPool {
public:
    using RangeFn = std::function<void(int64_t begin, int64_t end)>;

    // `helpers` threads besides the caller (0: the caller does everything).
    explicit HelpingPool(int helpers);
    ~HelpingPool();
    HelpingPool(const HelpingPool&) = delete;
    HelpingPool& operator=(const HelpingPool&) = delete;

    // fn(begin, end) for the ranges [g * grain, min(n, (g + 1) * grain)) that cover [0, n) (one
    // range: all on the caller). Returns once every range is done; the first exception fn throws
    // is rethrown after the ranges already taken have finished (ranges not yet taken then are
    // skipped). A run from inside a range, or while another thread's run holds the pool, runs on
    // its caller alone.
    void run_ranges(int64_t n, int64_t grain, const RangeFn& fn);

    int helpers() const { return static_cast<int>(threads_.size()); }

private:
    void work();                 // a helper thread's loop
    void drain(uint32_t job);    // takes and runs that job's grains until none
    void run_grain(int64_t g);   // fn_ on grain g, then counts it done
    void publish(uint32_t job);  // its first ticket, waking sleeping helpers

    // The ticket: the job's number in the high 32 bits, the next grain to take in the low ones.
    // A job is closed by setting the next grain to kClosed before its parameters are rewritten,
    // so that a helper still holding an old ticket cannot take a grain of the next job with the
    // old job's parameters (its compare-exchange fails).
    static constexpr uint64_t kClosed = 0xffffffffu;
    alignas(64) std::atomic<uint64_t> ticket_{0};
    alignas(64) std::atomic<int64_t> done_{0};  // grains finished in the open job
    // The open job's parameters: written before its ticket (release), read after it (acquire).
    std::atomic<const RangeFn*> fn_{nullptr};
    std::atomic<int64_t> n_{0}, grain_{1}, grains_{0};
    std::atomic<bool> failed_{false};  // a grain threw: take no more
    std::mutex error_mutex_;
    std::exception_ptr error_;

    std::mutex run_mutex_;  // held by the run in progress
    uint32_t job_ = 0;      // the last job's number (run_mutex_ held)
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
};

}  // namespace ferris
