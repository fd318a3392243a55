// Kernel lab: the Hopper GEMM of dev/gemm_sm90a.cuh against cuBLASLt at the encoders' shapes.
// Checks every output element against cuBLASLt with the bias epilogue (then the embedding path's
// GELU pass), f16 and bf16, partial row tiles, and the branch-free erf against erff for every
// 16-bit input; times (f16, median of 15 after warm-up) the FFN up-projection with GELU as the
// embedding path runs it today against the fused variants, and the other products plain.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++20 -gencode arch=compute_90a,code=sm_90a dev/gemm_gelu_lab.cu -lcublasLt \
//     -o /tmp/gemm_gelu_lab && /tmp/gemm_gelu_lab
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gemm_sm90a.cuh"
#include "lab_fill.cuh"
#include "lab_timing.cuh"

// The embedding path's GELU pass (elementwise.cu's gelu16_kernel), in place.
template <typename T, bool kSelect = false>
__global__ void gelu_pass(T* x, size_t n8) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
         i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = reinterpret_cast<uint4*>(x)[i];
        T* h = reinterpret_cast<T*>(&v);
#pragma unroll
        for (int e = 0; e < 8; ++e)
            h[e] = kSelect ? T(ferris::cuda::gelu_erf(float(h[e])))
                           : T(0.5f * float(h[e]) * (1.0f + erff(float(h[e]) * 0.70710678f)));
        reinterpret_cast<uint4*>(x)[i] = v;
    }
}

// Every 16-bit input (f16 and bf16 bit patterns) through erff and through the kernel's erf_select.
__global__ void erf_check(unsigned* mismatches) {
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= 65536) return;
    const float h = __half2float(__ushort_as_half(uint16_t(i)));
    const float b = __uint_as_float(i << 16);
    for (float x : {h, b}) {
        const float want = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        const float got = ferris::cuda::gelu_erf(x);
        if (__float_as_uint(want) != __float_as_uint(got) && !(want != want && got != got))
            atomicAdd(mismatches, 1u);
    }
}

// Every 16-bit input of T through gelu_fast against the GELU pass's formula (erff) and against the
// exactly rounded GELU (double precision): out[0] / out[1] count the inputs that differ, out[2] /
// out[3] the largest distance in units in the last place (NaN and infinite inputs skipped, -0 and
// +0 equal).
template <typename T>
__global__ void fast_check(unsigned* out) {
    const uint32_t bits = blockIdx.x * blockDim.x + threadIdx.x;
    if (bits >= 65536) return;
    const auto to_bits = [](float v) -> int {
        uint16_t u;
        if constexpr (std::is_same_v<T, __half>)
            u = __half_as_ushort(__float2half_rn(v));
        else
            u = __bfloat16_as_ushort(__float2bfloat16_rn(v));
        return u & 0x8000 ? -int(u & 0x7FFF) : int(u);  // monotonic, -0 == +0
    };
    float x;
    if constexpr (std::is_same_v<T, __half>)
        x = __half2float(__ushort_as_half(uint16_t(bits)));
    else
        x = __bfloat162float(__ushort_as_bfloat16(uint16_t(bits)));
    if (x != x || isinf(x)) return;  // NaN stays NaN; -inf gives -0 where the formula gives NaN
    const int got = to_bits(ferris::cuda::gelu_fast<T>(x));
    const int formula = to_bits(0.5f * x * (1.0f + erff(x * 0.70710678f)));
    const double xd = x, exact_value = 0.5 * xd * erfc(-xd * 0.70710678118654752440);
    // Below 1e-30 (bf16's deep tail, where ex2 flushes) only the magnitude is checked.
    if (fabs(exact_value) < 1e-30) {
        if (!(fabsf(ferris::cuda::gelu_fast<T>(x)) < 1e-29f)) atomicAdd(&out[1], 1000000u);
        return;
    }
    const int exact = to_bits(float(exact_value));
    const int d_formula = abs(got - formula), d_exact = abs(got - exact);
    if (d_formula) atomicAdd(&out[0], 1u);
    if (d_exact) atomicAdd(&out[1], 1u);
    atomicMax(&out[2], unsigned(d_formula));
    atomicMax(&out[3], unsigned(d_exact));
    if (abs(formula - exact)) atomicAdd(&out[4], 1u);
}

// Every 16-bit input through the table path against the GELU pass's formula, both types.
template <typename T>
__global__ void table_check(const uint16_t* table, unsigned* mismatches) {
    const uint32_t bits = blockIdx.x * blockDim.x + threadIdx.x;
    if (bits >= 65536) return;
    float x;
    uint32_t want;
    if constexpr (std::is_same_v<T, __half>) {
        x = __half2float(__ushort_as_half(uint16_t(bits)));
        want = __half_as_ushort(__float2half_rn(0.5f * x * (1.0f + erff(x * 0.70710678f))));
    } else {
        x = __bfloat162float(__ushort_as_bfloat16(uint16_t(bits)));
        want = __bfloat16_as_ushort(__float2bfloat16_rn(0.5f * x * (1.0f + erff(x * 0.70710678f))));
    }
    const uint32_t got = ferris::cuda::gelu_by_table<T>(bits, table);
    const bool nan = x != x;
    if (got != want && !nan) atomicAdd(mismatches, 1u);
}

// cuBLASLt y = x w^T + bias in T, as linear.cu's linear_half runs it.
template <typename T>
struct Reference {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
    void* ws;
    size_t ws_bytes = 32u << 20;
    Reference(cublasLtHandle_t h, void* workspace, const T* bias, int m, int n, int k)
        : lt(h), ws(workspace) {
        const cudaDataType_t dt = std::is_same_v<T, __half> ? CUDA_R_16F : CUDA_R_16BF;
        LK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                          sizeof(bias)));
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &dt,
                                          sizeof(dt)));
        LK(cublasLtMatrixLayoutCreate(&la, dt, k, n, k));
        LK(cublasLtMatrixLayoutCreate(&lb, dt, k, m, k));
        LK(cublasLtMatrixLayoutCreate(&ld, dt, n, m, n));
        cublasLtMatmulPreference_t pref;
        LK(cublasLtMatmulPreferenceCreate(&pref));
        const uint64_t wsb = ws_bytes;
        LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                &wsb, sizeof(wsb)));
        cublasLtMatmulHeuristicResult_t r;
        int found = 0;
        LK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 1, &r, &found));
        if (!found) std::exit(1);
        algo = r.algo;
        cublasLtMatmulPreferenceDestroy(pref);
    }
    void run(T* y, const T* x, const T* w) {
        const float alpha = 1.0f, beta = 0.0f;
        LK(cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, y, ld, y, ld, &algo, ws, ws_bytes,
                          0));
    }
};

template <typename T>
float as_float(T v) {
    return float(v);
}

// Compares every element; returns true when all are within tol of the reference.
template <typename T>
bool compare(const T* got_d, const T* want_d, size_t count, double tol, const char* what) {
    std::vector<T> got(count), want(count);
    CK(cudaMemcpy(got.data(), got_d, count * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(want.data(), want_d, count * sizeof(T), cudaMemcpyDeviceToHost));
    double worst = 0, worst_abs = 0;
    size_t bad = 0, worst_i = 0, differ = 0;
    for (size_t i = 0; i < count; ++i) {
        const double g = as_float(got[i]), w = as_float(want[i]);
        const double err = std::fabs(g - w) / std::max(1.0, std::fabs(w));
        differ += g != w;
        if (!(err <= tol)) ++bad;
        if (!(err <= worst)) worst = err, worst_i = i, worst_abs = std::fabs(g - w);
    }
    std::printf("  %-28s max rel %.3g (abs %.3g at %zu), %zu of %zu differ, %zu over %.3g: %s\n",
                what, worst, worst_abs, worst_i, differ, count, bad, tol, bad ? "FAIL" : "ok");
    return bad == 0;
}

uint16_t *table_f16 = nullptr, *table_bf16 = nullptr;

template <typename T>
bool check_and_time(cublasLtHandle_t lt, void* ws, int m, int n, int k, bool time_it,
                    bool plain = false) {
    const bool bf16 = std::is_same_v<T, __nv_bfloat16>;
    T *x, *w, *bias, *ref, *out;
    CK(cudaMalloc(&x, size_t(m) * k * sizeof(T)));
    CK(cudaMalloc(&w, size_t(n) * k * sizeof(T)));
    CK(cudaMalloc(&bias, size_t(n) * sizeof(T)));
    CK(cudaMalloc(&ref, size_t(m) * n * sizeof(T)));
    CK(cudaMalloc(&out, size_t(m) * n * sizeof(T)));
    lab_fill<<<1024, 256>>>(x, size_t(m) * k, 11, 0.0f, 1.0f);
    lab_fill<<<1024, 256>>>(w, size_t(n) * k, 12, 0.0f, 0.05f);
    lab_fill<<<1024, 256>>>(bias, size_t(n), 13, 0.0f, 0.5f);
    CK(cudaDeviceSynchronize());
    std::printf("%s M %d N %d K %d\n", bf16 ? "bf16" : "f16", m, n, k);
    if (!ferris::cuda::gemm_sm90a_fits(m, n, k, out, x, w, bias)) {
        std::printf("  does not fit\n");
        return false;
    }
    Reference<T> reference(lt, ws, bias, m, n, k);
    const size_t count = size_t(m) * n;
    // One output ulp of T, relative: accumulation order may flip the last bit before rounding.
    const double tol = bf16 ? 2.0 / 128 : 2.0 / 1024;
    bool ok = true;
    reference.run(ref, x, w);
    CK(cudaMemset(out, 0xFF, count * sizeof(T)));
    CK(ferris::cuda::gemm_sm90a(out, x, w, bias, bf16, false, m, n, k, 0));
    CK(cudaDeviceSynchronize());
    ok &= compare(out, ref, count, tol, "linear + bias");
    gelu_pass<<<132 * 8, 256>>>(ref, count / 8);
    ferris::cuda::gemm_sm90a_gelu_table = bf16 ? table_bf16 : table_f16;
    for (int mode : {25, 26, 30, 31, 32, 33}) {
        ferris::cuda::gemm_sm90a_mode = mode;
        CK(cudaMemset(out, 0xFF, count * sizeof(T)));
        CK(ferris::cuda::gemm_sm90a(out, x, w, bias, bf16, true, m, n, k, 0));
        CK(cudaDeviceSynchronize());
        char what[64];
        std::snprintf(what, sizeof what, "linear + bias + gelu (mode %d)", mode);
        ok &= compare(out, ref, count, tol, what);
    }
    ferris::cuda::gemm_sm90a_mode = 1;
    if (time_it) {
        const double flop = 2.0 * m * n * k;
        const float t_ref = median_ms([&] { reference.run(ref, x, w); });
        const float t_ref_gelu = median_ms([&] {
            reference.run(ref, x, w);
            gelu_pass<<<132 * 8, 256>>>(ref, count / 8);
        });
        const float t_own = median_ms(
            [&] { CK(ferris::cuda::gemm_sm90a(out, x, w, bias, bf16, false, m, n, k, 0)); });
        const float t_select = median_ms([&] {
            reference.run(ref, x, w);
            gelu_pass<T, true><<<132 * 8, 256>>>(ref, count / 8);
        });
        std::printf(
            "  time us: cuBLASLt %.1f (%.0f TFLOPS), + GELU pass %.1f (erf_select %.1f) | sm90a "
            "%.1f (%.0f TFLOPS) | / cuBLASLt %.3f\n",
            t_ref * 1e3, flop / (t_ref * 1e-3) / 1e12, t_ref_gelu * 1e3, t_select * 1e3,
            t_own * 1e3, flop / (t_own * 1e-3) / 1e12, t_own / t_ref);
        const char* names[] = {"",
                               "384 regs 200/104 fin x1 select",
                               "384 no setmaxnreg fin x1 select",
                               "384 no setmaxnreg fin x2 select",
                               "384 no setmaxnreg fin x1 erff",
                               "",
                               "",
                               "384 multipliers erff",
                               "",
                               "",
                               "384 multipliers table, direct stores",
                               "384 deferred into next MMAs, select",
                               "384 deferred into next MMAs, erff",
                               "384 deferred, no GELU (structure)",
                               "384 deferred, shares after the wait",
                               "384 deferred, no setmaxnreg",
                               "384 deferred + finishers 6/16 rows",
                               "384 deferred + finishers 8/16 rows",
                               "384 deferred + finishers 10/16 rows",
                               "384 deferred + finishers 12/16 rows",
                               "fast: finishers 200/104",
                               "fast: finishers no setmaxnreg x2",
                               "fast: deferred",
                               "fast: deferred + finishers 8/16",
                               "fast: deferred + finishers 12/16",
                               "fast: multipliers' epilogue",
                               "fast: epilogue + finishers 8/32 cols",
                               "fast: epilogue + finishers 12/32 cols",
                               "fast: epilogue + finishers 16/32 cols",
                               "fast: epilogue + finishers 20/32 cols",
                               "fast: epilogue + finishers 2/32 cols",
                               "fast: epilogue + finishers 4/32 cols",
                               "fast: epilogue + finishers 6/32 cols",
                               "fast: epilogue + finishers 10/32 cols"};
        for (int mode : {25, 30, 31, 32, 26, 33}) {
            if (plain) break;
            ferris::cuda::gemm_sm90a_mode = mode;
            const float t = median_ms(
                [&] { CK(ferris::cuda::gemm_sm90a(out, x, w, bias, bf16, true, m, n, k, 0)); });
            std::printf("    %-34s %.1f us | / today %.3f\n", names[mode], t * 1e3, t / t_ref_gelu);
        }
        ferris::cuda::gemm_sm90a_mode = 1;
    }
    CK(cudaFree(x));
    CK(cudaFree(w));
    CK(cudaFree(bias));
    CK(cudaFree(ref));
    CK(cudaFree(out));
    return ok;
}

int main(int argc, char** argv) {
    // "quick": the GELU products only (correctness at the edges, then up at three sizes).
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    // "profile MODE M": the up-projection (M x 3072 x 768, f16) in MODE three times, for ncu.
    if (argc > 3 && std::string(argv[1]) == "profile") {
        const int mode = std::atoi(argv[2]), m = std::atoi(argv[3]), n = 3072, k = 768;
        __half *x, *w, *bias, *out;
        CK(cudaMalloc(&x, size_t(m) * k * 2));
        CK(cudaMalloc(&w, size_t(n) * k * 2));
        CK(cudaMalloc(&bias, size_t(n) * 2));
        CK(cudaMalloc(&out, size_t(m) * n * 2));
        lab_fill<<<1024, 256>>>(x, size_t(m) * k, 11, 0.0f, 1.0f);
        lab_fill<<<1024, 256>>>(w, size_t(n) * k, 12, 0.0f, 0.05f);
        lab_fill<<<1024, 256>>>(bias, size_t(n), 13, 0.0f, 0.5f);
        ferris::cuda::gemm_sm90a_mode = mode;
        for (int i = 0; i < 3; ++i)
            CK(ferris::cuda::gemm_sm90a(out, x, w, bias, false, mode != 0, m, n, k, 0));
        CK(cudaDeviceSynchronize());
        return 0;
    }
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    void* ws = nullptr;
    CK(cudaMalloc(&ws, 32u << 20));
    bool ok = true;
    unsigned* mismatches = nullptr;
    CK(cudaMallocManaged(&mismatches, sizeof(unsigned)));
    *mismatches = 0;
    erf_check<<<256, 256>>>(mismatches);
    CK(cudaDeviceSynchronize());
    std::printf("gelu with erf_select against erff, every f16 and bf16 input: %u differ\n",
                *mismatches);
    ok &= *mismatches == 0;
    for (int t = 0; t < 2; ++t) {
        unsigned* counts = nullptr;
        CK(cudaMallocManaged(&counts, 5 * sizeof(unsigned)));
        for (int i = 0; i < 5; ++i) counts[i] = 0;
        if (t == 0)
            fast_check<__half><<<256, 256>>>(counts);
        else
            fast_check<__nv_bfloat16><<<256, 256>>>(counts);
        CK(cudaDeviceSynchronize());
        std::printf(
            "gelu_fast, every %s input: %u differ from the erff formula (max %u ulp), %u from the "
            "exactly rounded GELU (max %u ulp); the erff formula itself differs from it in %u\n",
            t ? "bf16" : "f16", counts[0], counts[2], counts[1], counts[3], counts[4]);
        ok &= counts[3] <= 1 && counts[1] < 1000000u;  // the erff formula: information only
        CK(cudaFree(counts));
    }
    CK(cudaMalloc(&table_f16, ferris::cuda::gelu_table_bytes<__half>()));
    CK(cudaMalloc(&table_bf16, ferris::cuda::gelu_table_bytes<__nv_bfloat16>()));
    ferris::cuda::gelu_table_kernel<__half><<<256, 256>>>(table_f16);
    ferris::cuda::gelu_table_kernel<__nv_bfloat16><<<256, 256>>>(table_bf16);
    for (int t = 0; t < 2; ++t) {
        *mismatches = 0;
        if (t == 0)
            table_check<__half><<<256, 256>>>(table_f16, mismatches);
        else
            table_check<__nv_bfloat16><<<256, 256>>>(table_bf16, mismatches);
        CK(cudaDeviceSynchronize());
        std::printf("gelu by table against the formula, every %s input: %u differ\n",
                    t ? "bf16" : "f16", *mismatches);
        ok &= *mismatches == 0;
    }
    // Correctness at edges: one partial row tile, fewer tiles than multiprocessors, K of 384.
    ok &= check_and_time<__half>(lt, ws, 77, 1536, 384, false);
    ok &= check_and_time<__nv_bfloat16>(lt, ws, 77, 1536, 384, false);
    ok &= check_and_time<__nv_bfloat16>(lt, ws, 1000, 3072, 768, false);
    // The embedding path's shapes (mpnet: 768 -> 3072; e5 / MiniLM: 384 -> 1536), timed.
    for (int m : {4096, 16384, 19108, 25000, 32768}) {
        if (argc > 1 && std::string(argv[1]) == "plain") break;
        if (quick && (m == 4096 || m == 32768)) continue;
        ok &= check_and_time<__half>(lt, ws, m, 3072, 768, true);
    }
    if (quick) {
        std::printf("%s\n", ok ? "ALL OK" : "SOME FAILED");
        return ok ? 0 : 1;
    }
    for (int m : {16384, 32768})
        if (argc < 2 || std::string(argv[1]) != "plain")
            ok &= check_and_time<__half>(lt, ws, m, 1536, 384, true);
    // The other products of an MPNet layer, without GELU: q/k/v, o, down ("plain": those only,
    // at a real batch of 19,108 tokens and at 25,000).
    const bool plain_only = argc > 1 && std::string(argv[1]) == "plain";
    for (int m : {16384, 19108, 25000, 32768}) {
        if (plain_only && m != 19108 && m != 25000) continue;
        ok &= check_and_time<__half>(lt, ws, m, 2304, 768, true, true);
        ok &= check_and_time<__half>(lt, ws, m, 768, 768, true, true);
        ok &= check_and_time<__half>(lt, ws, m, 768, 3072, true, true);
    }
    std::printf("%s\n", ok ? "ALL OK" : "SOME FAILED");
    return ok ? 0 : 1;
}
