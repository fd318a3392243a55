// Linear through cuBLASLt. Row-major out (N, O) is column-major out^T (O, N) = W x^T, so the GEMM
// is "TN": A = W (I x O column-major, transposed), B = x^T (I x N), D (O x N), ld = I, I, O.
// Algorithms come from the heuristic once per (shape, dtype, pointer alignments, bias) and are
// cached; when cuBLASLt offers none (odd leading dims), cublasGemmEx plus a bias kernel serves.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <map>
#include <memory>
#include <tuple>

#include "backends/cuda/check.h"
#include "backends/cuda/copy.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/linear.cuh"

namespace ferris::cuda {

// (n, in, outs, dtype, alignment of A, B, D, bias)
using GemmKey = std::tuple<int64_t, int64_t, int64_t, int, uint32_t, uint32_t, uint32_t, uint32_t>;

struct GemmContext {
    cublasLtHandle_t lt = nullptr;
    cublasHandle_t blas = nullptr;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
    std::map<GemmKey, std::pair<bool, cublasLtMatmulAlgo_t>> algos;  // false: use GemmEx
};

void destroy_gemm_context(GemmContext* ctx) {
    if (!ctx) return;
    if (ctx->lt) (void)cublasLtDestroy(ctx->lt);
    if (ctx->blas) (void)cublasDestroy(ctx->blas);
    if (ctx->workspace) (void)cudaFree(ctx->workspace);
    delete ctx;
}

GemmContext* create_gemm_context(cudaStream_t stream, size_t workspace_bytes) {
    std::unique_ptr<GemmContext, void (*)(GemmContext*)> ctx(new GemmContext, destroy_gemm_context);
    FERRIS_CUBLAS_CHECK(cublasLtCreate(&ctx->lt));
    FERRIS_CUBLAS_CHECK(cublasCreate(&ctx->blas));
    FERRIS_CUBLAS_CHECK(cublasSetStream(ctx->blas, stream));
    // Default math + CUBLAS_COMPUTE_32F: no TF32 (only TF32_TENSOR_OP_MATH / 32F_FAST_TF32 use it).
    FERRIS_CUBLAS_CHECK(cublasSetMathMode(ctx->blas, CUBLAS_DEFAULT_MATH));
    FERRIS_CUDA_CHECK(cudaMalloc(&ctx->workspace, workspace_bytes));
    ctx->workspace_bytes = workspace_bytes;
    return ctx.release();
}

namespace {

__global__ void bias_rows_kernel(float* __restrict__ out, const float* __restrict__ bias,
                                 int64_t rows, int64_t outs, bool accumulate) {
    const int64_t n = rows * outs;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float b = bias ? bias[i % outs] : 0.0f;
        out[i] = accumulate ? out[i] + b : b;
    }
}

void bias_rows(float* out, const float* bias, int64_t rows, int64_t outs, bool accumulate,
               cudaStream_t stream) {
    bias_rows_kernel<<<grid_for(rows * outs, 256), 256, 0, stream>>>(out, bias, rows, outs,
                                                                     accumulate);
    FERRIS_CUDA_LAUNCH_CHECK("bias_rows_kernel");
}

uint32_t alignment(const void* p) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    uint32_t al = 256;
    while (al > 1 && (a % al) != 0) al >>= 1;
    return al;
}

cudaDataType_t cuda_type(DType dt) {
    return dt == DType::F32 ? CUDA_R_32F : dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

// RAII for the per-call cuBLASLt descriptors.
struct LtDescs {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    ~LtDescs() {
        if (pref) (void)cublasLtMatmulPreferenceDestroy(pref);
        if (d) (void)cublasLtMatrixLayoutDestroy(d);
        if (b) (void)cublasLtMatrixLayoutDestroy(b);
        if (a) (void)cublasLtMatrixLayoutDestroy(a);
        if (op) (void)cublasLtMatmulDescDestroy(op);
    }
};

// Returns false when cuBLASLt has no algorithm for this problem.
bool lt_matmul(GemmContext& ctx, float* out, const void* a_ptr, const void* b_ptr, DType dt,
               const float* bias, int64_t n, int64_t in, int64_t outs, cudaStream_t stream) {
    const cudaDataType_t t = cuda_type(dt);
    LtDescs ds;
    FERRIS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&ds.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    FERRIS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    FERRIS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (bias) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        FERRIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                           &epi, sizeof(epi)));
        FERRIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(ds.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                           &bias, sizeof(bias)));
    }
    FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.a, t, static_cast<uint64_t>(in),
                                                   static_cast<uint64_t>(outs), in));
    FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.b, t, static_cast<uint64_t>(in),
                                                   static_cast<uint64_t>(n), in));
    FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds.d, CUDA_R_32F, static_cast<uint64_t>(outs),
                                                   static_cast<uint64_t>(n), outs));
    const uint32_t al_a = alignment(a_ptr), al_b = alignment(b_ptr), al_d = alignment(out),
                   al_bias = bias ? alignment(bias) : 0;
    const GemmKey key{n, in, outs, static_cast<int>(dt), al_a, al_b, al_d, al_bias};
    auto it = ctx.algos.find(key);
    if (it == ctx.algos.end()) {
        FERRIS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&ds.pref));
        const uint64_t ws = ctx.workspace_bytes;
        FERRIS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
            ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
        const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al_a},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al_b},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al_d},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al_d}};
        for (const auto& [attr, value] : aligns)
            FERRIS_CUBLAS_CHECK(
                cublasLtMatmulPreferenceSetAttribute(ds.pref, attr, &value, sizeof(value)));
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.lt, ds.op, ds.a, ds.b, ds.d,
                                                                 ds.d, ds.pref, 1, &result, &found);
        const bool ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
        it = ctx.algos.emplace(key, std::make_pair(ok, result.algo)).first;
    }
    if (!it->second.first) return false;
    const float alpha = 1.0f, beta = 0.0f;
    FERRIS_CUBLAS_CHECK(cublasLtMatmul(ctx.lt, ds.op, &alpha, a_ptr, ds.a, b_ptr, ds.b, &beta, out,
                                       ds.d, out, ds.d, &it->second.second, ctx.workspace,
                                       ctx.workspace_bytes, stream));
    return true;
}

}  // namespace

namespace {

// Decode-sized products (N <= 4 rows, bf16/f16 weights): `split` warps share an output row, each
// streaming a strided part of it in 16-byte loads issued four at a time (so enough bytes are in
// flight to cover memory latency even when rows are few and long), then the block sums the
// warps' partial dot products. One kernel: no x conversion pass. x is rounded to the weight dtype
// first, as the tensor-core path does, so both paths compute the same products.
constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvUnroll = 4;

template <typename T, int N>
__device__ __forceinline__ void gemv_chunk(const uint4& packed, const float* x, int64_t in,
                                           int64_t c, float (&acc)[N]) {
    const T* e = reinterpret_cast<const T*>(&packed);
#pragma unroll
    for (int r = 0; r < N; ++r) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * in + c * 8);
        const float4 a = xr[0], b = xr[1];
        const float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int k = 0; k < 8; ++k) acc[r] += to_float(e[k]) * to_float(from_float<T>(xv[k]));
    }
}

// kMode: 0 out = W x + b; 1 out += W x + b (a residual add fused in); 2 out = silu(Wg x) * (Wu x)
// with w2 = Wu (SwiGLU: both rows read in one pass).
template <typename T, int N, int kMode>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(float* out, const float* x, const T* w, const T* w2, const float* bias, int64_t in,
                int64_t outs, int split) {
    constexpr int kDots = kMode == 2 ? 2 : 1;
    __shared__ float partial[kDots][kGemvWarps][N];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int rows_per_block = kGemvWarps / split;
    const int64_t o = static_cast<int64_t>(blockIdx.x) * rows_per_block + warp / split;
    const int part = warp % split;
    float acc[kDots][N];
#pragma unroll
    for (int d = 0; d < kDots; ++d)
#pragma unroll
        for (int r = 0; r < N; ++r) acc[d][r] = 0.0f;
    if (o < outs) {
        const int64_t chunks = in / 8, step = static_cast<int64_t>(split) * 32;
#pragma unroll
        for (int d = 0; d < kDots; ++d) {
            const uint4* row = reinterpret_cast<const uint4*>((d == 0 ? w : w2) + o * in);
            int64_t c = static_cast<int64_t>(part) * 32 + lane;
            for (; c + (kGemvUnroll - 1) * step < chunks; c += kGemvUnroll * step) {
                uint4 packed[kGemvUnroll];
#pragma unroll
                for (int u = 0; u < kGemvUnroll; ++u) packed[u] = __ldg(row + c + u * step);
#pragma unroll
                for (int u = 0; u < kGemvUnroll; ++u)
                    gemv_chunk<T, N>(packed[u], x, in, c + u * step, acc[d]);
            }
            for (; c < chunks; c += step) gemv_chunk<T, N>(__ldg(row + c), x, in, c, acc[d]);
        }
    }
#pragma unroll
    for (int d = 0; d < kDots; ++d)
#pragma unroll
        for (int r = 0; r < N; ++r) {
            const float s = warp_sum(acc[d][r]);
            if (lane == 0) partial[d][warp][r] = s;
        }
    __syncthreads();
    if (part == 0 && lane < N && o < outs) {
        float s = 0.0f, s2 = 0.0f;
        for (int p = 0; p < split; ++p) {
            s += partial[0][warp + p][lane];
            if constexpr (kMode == 2) s2 += partial[kDots - 1][warp + p][lane];
        }
        float* dst = out + lane * outs + o;
        if constexpr (kMode == 2) {
            *dst = s / (1.0f + expf(-s)) * s2;
        } else {
            s += bias ? bias[o] : 0.0f;
            *dst = kMode == 1 ? *dst + s : s;
        }
    }
}

template <typename T, int kMode>
void launch_gemv(float* out, const float* x, const void* w, const void* w2, const float* bias,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream) {
    // Long rows get more warps each (up to all 8 of the block), short rows one.
    const int split = in >= 4096 ? 8 : in >= 2048 ? 4 : in >= 1024 ? 2 : 1;
    const int64_t rows_per_block = kGemvWarps / split;
    const unsigned blocks = static_cast<unsigned>((outs + rows_per_block - 1) / rows_per_block);
    const T* wt = static_cast<const T*>(w);
    const T* wt2 = static_cast<const T*>(w2);
    switch (n) {
        case 1:
            gemv_kernel<T, 1, kMode>
                <<<blocks, kGemvThreads, 0, stream>>>(out, x, wt, wt2, bias, in, outs, split);
            break;
        case 2:
            gemv_kernel<T, 2, kMode>
                <<<blocks, kGemvThreads, 0, stream>>>(out, x, wt, wt2, bias, in, outs, split);
            break;
        case 3:
            gemv_kernel<T, 3, kMode>
                <<<blocks, kGemvThreads, 0, stream>>>(out, x, wt, wt2, bias, in, outs, split);
            break;
        default:
            gemv_kernel<T, 4, kMode>
                <<<blocks, kGemvThreads, 0, stream>>>(out, x, wt, wt2, bias, in, outs, split);
            break;
    }
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

template <int kMode>
void launch_gemv_any(float* out, const float* x, const void* w, const void* w2, DType dt,
                     const float* bias, int64_t n, int64_t in, int64_t outs, cudaStream_t stream) {
    if (dt == DType::BF16)
        launch_gemv<__nv_bfloat16, kMode>(out, x, w, w2, bias, n, in, outs, stream);
    else
        launch_gemv<__half, kMode>(out, x, w, w2, bias, n, in, outs, stream);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool gemv_applies(const float* x, const void* w, DType dt, int64_t n, int64_t in) {
    return n >= 1 && n <= 4 && dt != DType::F32 && in % 8 == 0 && aligned16(x) && aligned16(w);
}

}  // namespace

bool gemv(float* out, const float* x, const void* weight, DType weight_dtype, const float* bias,
          int64_t n, int64_t in, int64_t outs, bool accumulate, cudaStream_t stream) {
    if (!gemv_applies(x, weight, weight_dtype, n, in) || outs <= 0) return false;
    if (accumulate)
        launch_gemv_any<1>(out, x, weight, nullptr, weight_dtype, bias, n, in, outs, stream);
    else
        launch_gemv_any<0>(out, x, weight, nullptr, weight_dtype, bias, n, in, outs, stream);
    return true;
}

bool gemv_swiglu(float* out, const float* x, const void* w_gate, const void* w_up, DType dt,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream) {
    if (!gemv_applies(x, w_gate, dt, n, in) || !aligned16(w_up) || outs <= 0) return false;
    launch_gemv_any<2>(out, x, w_gate, w_up, dt, nullptr, n, in, outs, stream);
    return true;
}

void linear(GemmContext& ctx, float* out, const float* x, const void* weight, DType weight_dtype,
            const float* bias, int64_t n, int64_t in, int64_t outs, void* x_scratch,
            cudaStream_t stream) {
    if (n <= 0 || outs <= 0) return;
    if (in <= 0) {  // an empty sum: out = bias (or zeros)
        bias_rows(out, bias, n, outs, false, stream);
        return;
    }
    if (gemv(out, x, weight, weight_dtype, bias, n, in, outs, false, stream)) return;
    const void* b_ptr = x;
    if (weight_dtype != DType::F32) {
        convert_contiguous(x_scratch, weight_dtype, x, DType::F32, n * in, stream);
        b_ptr = x_scratch;
    }
    if (lt_matmul(ctx, out, weight, b_ptr, weight_dtype, bias, n, in, outs, stream)) return;
    const cudaDataType_t t = cuda_type(weight_dtype);
    const float alpha = 1.0f, beta = 0.0f;
    FERRIS_CUBLAS_CHECK(cublasSetStream(ctx.blas, stream));
    FERRIS_CUBLAS_CHECK(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(outs),
                                     static_cast<int>(n), static_cast<int>(in), &alpha, weight, t,
                                     static_cast<int>(in), b_ptr, t, static_cast<int>(in), &beta,
                                     out, CUDA_R_32F, static_cast<int>(outs), CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
    if (bias) bias_rows(out, bias, n, outs, true, stream);
}

}  // namespace ferris::cuda
