// HelpingPool: grains taken by compare-exchange on one ticket; the caller waits only until every
// grain taken is done. Helpers spin briefly between jobs, then sleep on a condition variable.
#include "core/helping_pool.h"

#include <algorithm>
#include <chrono>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ferris {

namespace {

// Set on helper threads, and on a caller while its run is in progress: a run from there is
// nested and runs on its caller alone.
thread_local bool t_in_run = false;

// How long a helper keeps polling for the next job before it sleeps. The CPU backend's loops
// come every few microseconds while a model runs; a sleeping helper costs a wake-up a loop.
constexpr auto kSpinFor = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

inline uint32_t job_of(uint64_t ticket) { return static_cast<uint32_t>(ticket >> 32); }
inline uint64_t grain_of(uint64_t ticket) { return ticket & 0xffffffffu; }

}  // namespace

HelpingPool::HelpingPool(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { work(); });
}

HelpingPool::~HelpingPool() {
    {
        std::lock_guard<std::mutex> lock(sleep_mutex_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
}

void HelpingPool::publish(uint32_t job) {
    ticket_.store(uint64_t{job} << 32, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
        // A helper between its check of the ticket and its wait holds sleep_mutex_: taking it
        // here means the notification cannot fall in that gap.
        { std::lock_guard<std::mutex> lock(sleep_mutex_); }
        wake_.notify_all();
    }
}

void HelpingPool::run_grain(int64_t g) {
    const int64_t grain = grain_.load(std::memory_order_relaxed);
    const int64_t begin = g * grain,
                  end = std::min(n_.load(std::memory_order_relaxed), begin + grain);
    try {
        (*fn_.load(std::memory_order_relaxed))(begin, end);
    } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
    }
    done_.fetch_add(1, std::memory_order_release);
}

void HelpingPool::drain(uint32_t job) {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
        if (job_of(t) != job) return;
        // Parameters read after a ticket of this job: if the job was closed and the next one's
        // parameters written meanwhile, the compare-exchange below sees the closed ticket.
        const int64_t grains = grains_.load(std::memory_order_acquire);
        const uint64_t g = grain_of(t);
        if (g >= static_cast<uint64_t>(grains) || failed_.load(std::memory_order_relaxed)) return;
        if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            continue;  // t now holds the current ticket
        run_grain(static_cast<int64_t>(g));
        t = ticket_.load(std::memory_order_acquire);
    }
}

void HelpingPool::work() {
    t_in_run = true;
    uint32_t seen = 0;
    for (;;) {
        auto spin_until = std::chrono::steady_clock::now() + kSpinFor;
        uint32_t job = 0;
        for (int spins = 0;; ++spins) {
            if (stop_.load(std::memory_order_relaxed)) return;
            job = job_of(ticket_.load(std::memory_order_acquire));
            if (job != seen) break;
            cpu_relax();
            if ((spins & 255) != 255 || std::chrono::steady_clock::now() < spin_until) continue;
            std::unique_lock<std::mutex> lock(sleep_mutex_);
            sleepers_.fetch_add(1, std::memory_order_seq_cst);
            wake_.wait(lock, [&] {
                return stop_.load() || job_of(ticket_.load(std::memory_order_seq_cst)) != seen;
            });
            sleepers_.fetch_sub(1, std::memory_order_relaxed);
            spin_until = std::chrono::steady_clock::now() + kSpinFor;
        }
        seen = job;
        drain(job);  // a helper late for its job finds nothing left
    }
}

void HelpingPool::run_ranges(int64_t n, int64_t grain, const RangeFn& fn) {
    if (n <= 0) return;
    grain = std::clamp<int64_t>(grain, 1, n);
    const int64_t grains = (n + grain - 1) / grain;
    const bool nested = t_in_run;
    t_in_run = true;  // for the ranges run on this thread: a run from one of them is nested
    struct Restore {
        bool was;
        ~Restore() { t_in_run = was; }
    } restore{nested};
    std::unique_lock<std::mutex> one_run(run_mutex_, std::defer_lock);
    if (grains == 1 || threads_.empty() || nested || !one_run.try_lock() ||
        grains >= static_cast<int64_t>(kClosed)) {
        for (int64_t b = 0; b < n; b += grain) fn(b, std::min(n, b + grain));
        return;
    }
    const uint32_t job = ++job_ == 0 ? ++job_ : job_;  // 0 is "no job yet" for the helpers
    fn_.store(&fn, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    grain_.store(grain, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    grains_.store(grains, std::memory_order_release);
    publish(job);
    drain(job);
    // Every grain is taken (or, after a throw, none will be): wait for those running on helpers.
    bool closed = false;
    for (int spins = 0; done_.load(std::memory_order_acquire) < grains; ++spins) {
        if (!closed && failed_.load(std::memory_order_relaxed)) {
            // Close the job and count the grains nobody took as done.
            const uint64_t t = ticket_.exchange(uint64_t{job} << 32 | kClosed);
            const int64_t taken = std::min<int64_t>(grains, static_cast<int64_t>(grain_of(t)));
            done_.fetch_add(grains - taken, std::memory_order_relaxed);
            closed = true;
        }
        if (spins < 4096) {
            cpu_relax();
        } else {
            std::this_thread::yield();  // a helper descheduled mid-grain may share this core
        }
    }
    ticket_.store(uint64_t{job} << 32 | kClosed, std::memory_order_seq_cst);
    std::exception_ptr error;
    {
        std::lock_guard<std::mutex> lock(error_mutex_);
        error = std::exchange(error_, nullptr);
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace ferris
