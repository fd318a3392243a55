// Thread-count control for the CPU backend's OpenMP threads (see include/ferris/threads.h).
// FERRIS_PIN_THREADS=1 pins OpenMP thread i to the i-th CPU of the process's affinity mask
// (an experiment knob for scaling measurements; off by default).
#include "ferris/threads.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace ferris {

namespace {
int g_threads = 0;

void pin_threads(int n) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    if (cpus.empty()) return;
#pragma omp parallel num_threads(n)
    {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[static_cast<size_t>(omp_get_thread_num()) % cpus.size()], &one);
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    }
}
}  // namespace

void set_num_threads(int n) {
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    g_threads = n;
    omp_set_num_threads(n);
    const char* pin = std::getenv("FERRIS_PIN_THREADS");
    if (pin && std::strcmp(pin, "1") == 0) pin_threads(n);
}

int num_threads() {
    if (g_threads == 0) set_num_threads(0);
    return g_threads;
}

}  // namespace ferris
