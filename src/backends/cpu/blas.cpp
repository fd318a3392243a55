// Lazy OpenBLAS loader (see blas.h). The path CMake found is tried first, then the sonames.
#include "backends/cpu/blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <cctype>
#include <cstdlib>
#include <initializer_list>
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
    std::string core;    // openblas_get_corename(): the kernels it picked for this CPU
    bool named = false;  // Ferris set OPENBLAS_CORETYPE while loading it
};

// OpenBLAS 0.3.21 (Debian 12) picks its kernels from a table of CPU models at load time. An Intel
// model it does not know (newer than the library, or hidden by a VM, as on the GPU machine's
// host, an AVX-512 Xeon) gets "Prescott", SSE kernels 3-8x slower than its AVX2 / AVX-512 ones.
// So unless the user chose a core, Ferris names the one the CPU's features call for: SkylakeX
// with AVX-512, Haswell with AVX2 + FMA on Intel. AMD CPUs with AVX-512 are named SkylakeX too:
// OpenBLAS falls back by features for an AMD family it does not know (this machine's Zen 5 gets
// Cooperlake, whose f32 kernels are SkylakeX's: even in bench_ops here), but one it knows as a
// Zen (Zen 4 reports Zen 3's family) may get the AVX2 Zen kernels; AMD without AVX-512 is left
// to it. f32, 100 docs of e5-small-v2: the Xeon at 16 threads 634-812 -> 372 ms; this Zen 5 at
// 2 threads, AVX2 kernels against AVX-512 ones, 2,191-2,276 -> 1,232-1,304 ms.
const char* core_to_name() {
    if (std::getenv("OPENBLAS_CORETYPE")) return nullptr;
    __builtin_cpu_init();
    const CpuVendor vendor = __builtin_cpu_is("intel") ? CpuVendor::Intel
                             : __builtin_cpu_is("amd") ? CpuVendor::Amd
                                                       : CpuVendor::Other;
    return openblas_core_for(
        vendor, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"));
}

Blas load_blas() {
    const char* candidates[] = {FERRIS_OPENBLAS_PATH, "libopenblas.so.0", "libopenblas.so"};
    std::string tried;
    // OpenBLAS reads OPENBLAS_CORETYPE as it loads (its constructor): set it for the dlopen only,
    // leaving the environment as it was. The callers load it from the thread that runs an op,
    // before any parallel loop, so no helper thread reads the environment meanwhile.
    const char* named = core_to_name();
    for (const char* name : candidates) {
        if (named) setenv("OPENBLAS_CORETYPE", named, 0);
        void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (named) unsetenv("OPENBLAS_CORETYPE");
        if (!handle) {
            tried += std::string(tried.empty() ? "" : "; ") + dlerror();
            continue;
        }
        auto sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
        if (!sgemm) continue;
        if (auto set = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads")))
            set(1);
        Blas blas{sgemm, "unknown", named != nullptr};
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

bool blas_core_named_by_ferris() { return blas().named; }

const char* openblas_core_for(CpuVendor vendor, bool avx2_fma, bool avx512) {
    if (vendor == CpuVendor::Other || !avx2_fma) return nullptr;
    if (avx512) return "SkylakeX";
    return vendor == CpuVendor::Intel ? "Haswell" : nullptr;
}

namespace {

bool core_is_one_of(std::initializer_list<const char*> names) {
    std::string core = blas_core();
    for (char& c : core) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* name : names)
        if (core == name) return true;
    return false;
}

}  // namespace

bool blas_has_avx2_kernels() {
    // OpenBLAS's x86-64 cores with AVX2 + FMA kernels; a CPU it does not recognize (a VM that
    // hides the model, or a model newer than the library) falls back to an SSE core such as
    // "Prescott", 3-8x slower than these.
    static const bool strong =
        core_is_one_of({"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"});
    return strong;
}

bool blas_has_avx512_kernels() {
    static const bool wide = core_is_one_of({"skylakex", "cooperlake", "sapphirerapids"});
    return wide;
}

}  // namespace ferris::cpu
