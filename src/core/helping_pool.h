// A parallel loop whose caller never waits for a thread that has not started yet: the caller
// works through the items itself and, at the end, waits only for the items that helper threads
// have already taken. An OpenMP team ends with a barrier that every member must reach, so one
// member the OS schedules late (another process busy on the cores) holds the whole loop up: ~8 ms
// on a loaded machine, against ~0.1 ms of work for a few dozen texts to tokenize
// (dev/NOTES_EMBED.md, eighteenth session). For short loops whose latency matters.
#pragma once

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
    // `helpers` threads besides the caller (0: the caller does everything).
    explicit HelpingPool(int helpers);
    ~HelpingPool();
    HelpingPool(const HelpingPool&) = delete;
    HelpingPool& operator=(const HelpingPool&) = delete;

    // fn(i) for every i in [0, n), in grains of `grain` consecutive items (n <= grain: all on the
    // caller). Returns once every item is done; the first exception fn throws is rethrown after
    // the grains already taken have finished (no new grain starts once one has thrown). One run at
    // a time: concurrent callers take turns.
    void run(int64_t n, int64_t grain, const std::function<void(int64_t)>& fn);

    int helpers() const { return static_cast<int>(threads_.size()); }

private:
    void work();                          // a helper thread's loop
    bool take(uint64_t job, int64_t& g);  // the next grain of that job, if any (mutex_ held)
    void finish_grain(int64_t g);         // runs it; counts it done (mutex_ not held)
    // Takes and runs that job's grains until none is left (`lock` holds mutex_ around takes).
    void drain(uint64_t job, std::unique_lock<std::mutex>& lock);

    std::mutex run_mutex_;  // one run at a time
    std::mutex mutex_;      // the job's state below
    std::condition_variable wake_, done_;
    uint64_t job_ = 0;  // counts runs; a helper works on the job it was woken for only
    bool stop_ = false;
    const std::function<void(int64_t)>* fn_ = nullptr;
    int64_t n_ = 0, grain_ = 1, grains_ = 0;
    int64_t next_ = 0;      // the next grain to take
    int64_t finished_ = 0;  // grains done (or abandoned after an exception)
    std::exception_ptr error_;
    std::vector<std::thread> threads_;
};

}  // namespace ferris
