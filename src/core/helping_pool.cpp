// HelpingPool: the caller and the helpers take grains under one mutex (a grain is many items, so
// the lock is cheap next to the work); the caller waits only until every grain taken is done.
#include "core/helping_pool.h"

#include <algorithm>
#include <utility>

namespace ferris {

HelpingPool::HelpingPool(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { work(); });
}

HelpingPool::~HelpingPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
}

bool HelpingPool::take(uint64_t job, int64_t& g) {
    if (job != job_ || next_ >= grains_ || error_) return false;
    g = next_++;
    return true;
}

void HelpingPool::finish_grain(int64_t g) {
    const int64_t begin = g * grain_, end = std::min(n_, begin + grain_);
    std::exception_ptr thrown;
    try {
        for (int64_t i = begin; i < end; ++i) (*fn_)(i);
    } catch (...) {
        thrown = std::current_exception();
    }
    bool last = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (thrown && !error_) error_ = thrown;
        ++finished_;
        last = finished_ == next_;  // the caller may be waiting for this
    }
    if (last) done_.notify_all();
}

void HelpingPool::drain(uint64_t job, std::unique_lock<std::mutex>& lock) {
    int64_t g = 0;
    while (take(job, g)) {
        lock.unlock();
        finish_grain(g);
        lock.lock();
    }
}

void HelpingPool::work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || job_ != seen; });
        if (stop_) return;
        seen = job_;
        drain(seen, lock);  // a helper woken late finds nothing left and sleeps again
    }
}

void HelpingPool::run(int64_t n, int64_t grain, const std::function<void(int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (n <= grain || threads_.empty()) {  // nothing to share
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    std::lock_guard<std::mutex> one_run(run_mutex_);
    uint64_t job = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        fn_ = &fn;
        n_ = n;
        grain_ = grain;
        grains_ = (n + grain - 1) / grain;
        next_ = 0;
        finished_ = 0;
        error_ = nullptr;
        job = ++job_;
    }
    wake_.notify_all();
    std::unique_lock<std::mutex> lock(mutex_);
    drain(job, lock);
    // Only the grains taken so far remain: they are running on helpers that have started.
    done_.wait(lock, [&] { return finished_ == next_; });
    fn_ = nullptr;
    next_ = grains_;  // a helper woken late for this job finds no grain (not even abandoned ones)
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace ferris
