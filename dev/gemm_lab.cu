// Kernel lab: cuBLASLt at the encoders' GEMM shapes (all-mpnet-base-v2: hidden 768, FFN 3072),
// f16 in and out, f32 accumulate, as the GPU embedding path runs them. For each token count M and
// each product (qkv, o, up, down): the heuristic's first algorithm, the fastest of its first 16,
// and the epilogues the path could use instead of separate kernels (GELU+bias on up; bias plus the
// residual as C, beta = 1, on o and down), each timed as the median of 15 runs after warm-up.
// Also the elementwise kernels' share: a GELU pass over the up output.
// `gemm_lab workspace`: instead, the four bias products at the token counts of docs1000's batches
// under workspace limits of 32 MB, 1 MB, 64 KB and none: cuBLASLt zeroes part of its workspace
// (a cudaMemsetAsync) before every launch of the algorithms it picks with 32 MB; each time
// includes that memset.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++20 -arch=sm_90 dev/gemm_lab.cu -lcublasLt -o /tmp/gemm_lab && /tmp/gemm_lab
#include <cublasLt.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lab_fill.cuh"
#include "lab_timing.cuh"

__global__ void gelu_kernel(__half* x, size_t n) {
    for (size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * 8; i < n;
         i += (size_t)gridDim.x * blockDim.x * 8) {
        uint4 v = *reinterpret_cast<uint4*>(x + i);
        __half* h = reinterpret_cast<__half*>(&v);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            const float f = __half2float(h[e]);
            h[e] = __float2half(0.5f * f * (1.0f + erff(f * 0.70710678f)));
        }
        *reinterpret_cast<uint4*>(x + i) = v;
    }
}

__half* alloc(size_t n, uint32_t seed, float scale = 0.05f) {
    __half* p = nullptr;
    CK(cudaMalloc(&p, n * sizeof(__half)));
    lab_fill<<<1024, 256>>>(p, n, seed, 0.0f, scale);
    return p;
}

struct Problem {
    const char* name;
    int n_out, k;
    cublasLtEpilogue_t epi;
    bool residual;  // C = the residual, beta = 1
};

int main(int argc, char** argv) {
    const bool workspace_mode = argc > 1 && std::string(argv[1]) == "workspace";
    // `gemm_lab batches`: the plain bias products at docs1000's batch sizes (and e5's 100 docs),
    // every one of the heuristic's first 16 algorithms timed: how far its first pick is from best.
    const bool batch_mode = argc > 1 && std::string(argv[1]) == "batches";
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    const size_t ws_bytes = 32u << 20;
    void* ws = nullptr;
    CK(cudaMalloc(&ws, ws_bytes));
    const int kMaxM = 32768;
    __half* x = alloc((size_t)kMaxM * 3072, 1);
    __half* y = alloc((size_t)kMaxM * 3072, 2);
    __half* res = alloc((size_t)kMaxM * 3072, 3);
    __half* w = alloc((size_t)3072 * 3072, 4);
    __half* bias = alloc(3072, 5);
    const Problem problems[] = {
        {"qkv", 2304, 768, CUBLASLT_EPILOGUE_BIAS, false},
        {"o", 768, 768, CUBLASLT_EPILOGUE_BIAS, false},
        {"o+res", 768, 768, CUBLASLT_EPILOGUE_BIAS, true},
        {"up", 3072, 768, CUBLASLT_EPILOGUE_BIAS, false},
        {"up+gelu", 3072, 768, CUBLASLT_EPILOGUE_GELU_BIAS, false},
        {"down", 768, 3072, CUBLASLT_EPILOGUE_BIAS, false},
        {"down+res", 768, 3072, CUBLASLT_EPILOGUE_BIAS, true},
    };
    std::printf("%-9s %6s %10s %10s %8s %8s %s\n", "product", "M", "first_us", "best_us", "TFLOPS",
                "algos", "best index");
    const std::vector<int> sizes = workspace_mode ? std::vector<int>{19108, 25000, 7490}
                                   : batch_mode   ? std::vector<int>{19108, 18987, 7490}
                                                : std::vector<int>{2048, 4096, 8192, 16384, 32768};
    const std::vector<size_t> limits = workspace_mode
                                           ? std::vector<size_t>{32u << 20, 1u << 20, 64u << 10, 0}
                                           : std::vector<size_t>{ws_bytes};
    for (int M : sizes) {
        for (const Problem& p : problems)
            for (size_t limit : limits) {
                if ((workspace_mode || batch_mode) &&
                    (p.residual || p.epi != CUBLASLT_EPILOGUE_BIAS))
                    continue;
                cublasLtMatmulDesc_t op;
                LK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
                const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
                LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta,
                                                  sizeof(ta)));
                LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb,
                                                  sizeof(tb)));
                LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &p.epi,
                                                  sizeof(p.epi)));
                LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                  sizeof(bias)));
                cublasLtMatrixLayout_t la, lb, ld;
                LK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, p.k, p.n_out, p.k));
                LK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16F, p.k, M, p.k));
                LK(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16F, p.n_out, M, p.n_out));
                cublasLtMatmulPreference_t pref;
                LK(cublasLtMatmulPreferenceCreate(&pref));
                const uint64_t wsb = limit;
                LK(cublasLtMatmulPreferenceSetAttribute(
                    pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb)));
                cublasLtMatmulHeuristicResult_t results[16];
                int found = 0;
                LK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 16, results,
                                                  &found));
                const float alpha = 1.0f, beta = p.residual ? 1.0f : 0.0f;
                const __half* c = p.residual ? res : y;
                float first = 0, best = 1e30f;
                int best_i = -1;
                for (int i = 0; i < found; ++i) {
                    const float t = median_ms([&] {
                        LK(cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, c, ld, y, ld,
                                          &results[i].algo, limit ? ws : nullptr, limit, 0));
                    });
                    if (i == 0) first = t;
                    if (t < best) best = t, best_i = i;
                }
                const double flop = 2.0 * M * p.n_out * p.k;
                std::printf("%-9s %6d %10.1f %10.1f %8.0f %8d %d", p.name, M, first * 1e3,
                            best * 1e3, flop / (best * 1e-3) / 1e12, found, best_i);
                if (workspace_mode)
                    std::printf("  workspace %zu KB (first algo asks %zu)", limit >> 10,
                                found ? results[0].workspaceSize : size_t(0));
                std::printf("\n");
                cublasLtMatmulPreferenceDestroy(pref);
                cublasLtMatrixLayoutDestroy(ld);
                cublasLtMatrixLayoutDestroy(lb);
                cublasLtMatrixLayoutDestroy(la);
                cublasLtMatmulDescDestroy(op);
            }
        if (workspace_mode || batch_mode) continue;
        const size_t n = (size_t)M * 3072;
        const float g = median_ms([&] { gelu_kernel<<<132 * 8, 256>>>(y, n); });
        std::printf("%-9s %6d %10.1f %10s %8.0f GB/s\n", "gelu", M, g * 1e3, "",
                    2.0 * n * 2 / (g * 1e-3) / 1e9);
    }
    return 0;
}
