// CPU thread count shared by every CPU op (OpenMP) — set once from --threads.
#pragma once

namespace ferris {

// n <= 0 means "all hardware threads". Also pins OpenBLAS to one thread per call: the CPU
// backend parallelizes around BLAS calls itself, so BLAS must not spawn its own threads.
void set_num_threads(int n);
int num_threads();

}  // namespace ferris
