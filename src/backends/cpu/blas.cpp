// Lazy OpenBLAS loader (see blas.h). The path CMake found is tried first, then the sonames.
#include "backends/cpu/blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <string>

#include "ferris/error.h"

namespace ferris::cpu {

namespace {

using SgemmFn = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float*, blasint, const float*, blasint, float, float*,
                         blasint);
using SetThreadsFn = void (*)(int);

SgemmFn load_sgemm() {
    const char* candidates[] = {FERRIS_OPENBLAS_PATH, "libopenblas.so.0", "libopenblas.so"};
    std::string tried;
    for (const char* name : candidates) {
        void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            tried += std::string(tried.empty() ? "" : "; ") + dlerror();
            continue;
        }
        auto sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
        if (!sgemm) continue;
        if (auto set = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads")))
            set(1);
        return sgemm;
    }
    fail(ErrorCode::Backend, "cannot load OpenBLAS (install libopenblas0): ", tried);
}

}  // namespace

void sgemm(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
    static const SgemmFn fn = load_sgemm();
    fn(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
       ldb, beta, c, ldc);
}

}  // namespace ferris::cpu
