// CPU thread count shared by every CPU op (core/parallel.h) and the tokenizer — set once from
// --threads.
#pragma once

namespace ferris {

// n <= 0 means "all hardware threads". (BLAS runs single-threaded inside the CPU backend's own
// parallel regions; see backends/cpu/blas.h.)
void set_num_threads(int n);
int num_threads();

}  // namespace ferris
