// Row-major single-precision GEMM through OpenBLAS, loaded on first use (dlopen) rather than
// at program start: OpenBLAS's load-time initialization spawns a thread pool and costs ~6 ms,
// which every `ferris --version` or `tokenize` would otherwise pay. The CPU backend calls BLAS
// from inside its own parallel loops (core/parallel.h), so BLAS is pinned to one thread when
// loaded.
#pragma once

#include <string>

namespace ferris::cpu {

// C (m, n) = alpha * A (m, k) @ op(B) + beta * C, op(B) = B^T (B is (n, k)) when trans_b,
// else B (k, n). Leading dimensions in elements.
void sgemm(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc);

// The core OpenBLAS chose for this CPU ("Haswell", "SkylakeX", ...; "unknown" if it does not
// say), and whether that core has AVX2 (AVX-512) kernels. All three load OpenBLAS.
const std::string& blas_core();
bool blas_has_avx2_kernels();
bool blas_has_avx512_kernels();
// Whether Ferris named that core (OPENBLAS_CORETYPE, set while OpenBLAS loaded) rather than
// OpenBLAS's own detection or the user's OPENBLAS_CORETYPE. Loads OpenBLAS.
bool blas_core_named_by_ferris();

// The OpenBLAS core Ferris names for a CPU of these features, or nullptr to leave the choice to
// OpenBLAS: "SkylakeX" with AVX-512 (F, BW, DQ, VL) on Intel and AMD, "Haswell" with AVX2 + FMA
// on Intel.
enum class CpuVendor { Intel, Amd, Other };
const char* openblas_core_for(CpuVendor vendor, bool avx2_fma, bool avx512);

}  // namespace ferris::cpu
