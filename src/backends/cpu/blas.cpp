// Lazy OpenBLAS loader (see blas.h). The path CMake found is tried first, then the sonames.
#include "backends/cpu/blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <cctype>
#include <string>

#include "ferris/error.h"

namespace ferris::cpu {

namespace {

using SgemmFn = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float*, blasint, const float*, blasint, float, float*,
                         blasint);
using SetThreadsFn = void (*)(int);
using CoreNameFn = char* (*)();

struct Blas {
    SgemmFn sgemm = nullptr;
    std::string core;  // openblas_get_corename(): the kernels it picked for this CPU
};

Blas load_blas() {
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
        Blas blas{sgemm, "unknown"};
        if (auto corename = reinterpret_cast<CoreNameFn>(dlsym(handle, "openblas_get_corename")))
            if (const char* core = corename()) blas.core = core;
        return blas;
    }
    fail(ErrorCode::Backend, "cannot load OpenBLAS (install libopenblas0): ", tried);
}

const Blas& blas() {
    static const Blas loaded = load_blas();
    return loaded;
}

}  // namespace

void sgemm(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
    blas().sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                 a, lda, b, ldb, beta, c, ldc);
}

const std::string& blas_core() { return blas().core; }

bool blas_has_avx2_kernels() {
    // OpenBLAS's x86-64 cores with AVX2 + FMA kernels; a CPU it does not recognize (a VM that
    // hides the model, or a model newer than the library) falls back to an SSE core such as
    // "Prescott", 3-8x slower than these.
    static const bool strong = [] {
        std::string core = blas_core();
        for (char& c : core) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (const char* name :
             {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"})
            if (core == name) return true;
        return false;
    }();
    return strong;
}

}  // namespace ferris::cpu
