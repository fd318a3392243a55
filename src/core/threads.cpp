// Thread-count control for OpenMP and OpenBLAS (see include/ferris/threads.h).
#include "ferris/threads.h"

#include <omp.h>

#include <thread>

namespace ferris {

namespace {
int g_threads = 0;
}

void set_num_threads(int n) {
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    g_threads = n;
    omp_set_num_threads(n);
}

int num_threads() {
    if (g_threads == 0) set_num_threads(0);
    return g_threads;
}

}  // namespace ferris
