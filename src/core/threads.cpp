// Thread-count control for the CPU backend's parallel loops (see include/ferris/threads.h and
// core/parallel.h, whose pool follows the count).
#include "ferris/threads.h"

#include <atomic>
#include <thread>

namespace ferris {

namespace {
std::atomic<int> g_threads{0};  // read by every parallel loop, on any thread
}

void set_num_threads(int n) {
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    g_threads = n;
}

int num_threads() {
    if (g_threads.load(std::memory_order_relaxed) == 0) set_num_threads(0);
    return g_threads.load(std::memory_order_relaxed);
}

}  // namespace ferris
