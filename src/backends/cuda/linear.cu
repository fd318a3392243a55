// Linear through cuBLASLt. Row-major out (N, O) is column-major out^T (O, N) = W x^T, so the GEMM
// is "TN": A = W (I x O column-major, transposed), B = x^T (I x N), D (O x N), ld = I, I, O.
// Algorithms come from the heuristic once per (shape, dtype, pointer alignments, bias) and are
// cached; when cuBLASLt offers none (odd leading dims), cublasGemmEx plus a bias kernel serves.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "backends/cuda/check.h"
#include "backends/cuda/copy.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/gemv.cuh"
#include "backends/cuda/linear.cuh"

namespace ferris::cuda {

// (n, in, outs, dtype, output dtype, alignment of A, B, D, bias)
using GemmKey =
    std::tuple<int64_t, int64_t, int64_t, int, int, uint32_t, uint32_t, uint32_t, uint32_t>;

// RAII for one problem's cuBLASLt descriptors (kept with its algorithm: creating them per call
// cost ~10 us of host time per product, most of a short query's budget).
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

struct GemmPlan {
    bool ok = false;  // false: cuBLASLt has no algorithm, use GemmEx
    cublasLtMatmulAlgo_t algo{};
    std::unique_ptr<LtDescs> descs;
};

struct GemmContext {
    cublasLtHandle_t lt = nullptr;
    cublasHandle_t blas = nullptr;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
    std::map<GemmKey, GemmPlan> plans;
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

template <typename T>
__global__ void bias_rows_kernel(T* __restrict__ out, const void* __restrict__ bias, DType bd,
                                 int64_t rows, int64_t outs, bool accumulate) {
    const int64_t n = rows * outs;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float b = bias ? load_any(bias, bd, i % outs) : 0.0f;
        out[i] = from_float<T>(accumulate ? to_float(out[i]) + b : b);
    }
}

// out (rows, outs) of dtype dt: = bias, or += bias (accumulate); bias (outs) of dtype bd, or
// null (zero).
void bias_rows(void* out, DType dt, const void* bias, DType bd, int64_t rows, int64_t outs,
               bool accumulate, cudaStream_t stream) {
    const unsigned blocks = grid_for(rows * outs, 256);
    if (dt == DType::F32)
        bias_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<float*>(out), bias, bd, rows, outs,
                                                     accumulate);
    else if (dt == DType::F16)
        bias_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<__half*>(out), bias, bd, rows,
                                                     outs, accumulate);
    else
        bias_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(out), bias, bd,
                                                     rows, outs, accumulate);
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

// Returns false when cuBLASLt has no algorithm for this problem.
// out (D) in out_dt: f32, or dt itself (half activations); bias in out_dt (or null).
bool lt_matmul(GemmContext& ctx, void* out, DType out_dt, const void* a_ptr, const void* b_ptr,
               DType dt, const void* bias, int64_t n, int64_t in, int64_t outs,
               cudaStream_t stream) {
    const uint32_t al_a = alignment(a_ptr), al_b = alignment(b_ptr), al_d = alignment(out),
                   al_bias = bias ? alignment(bias) : 0;
    const GemmKey key{n,    in,   outs,   static_cast<int>(dt), static_cast<int>(out_dt), al_a,
                      al_b, al_d, al_bias};
    auto it = ctx.plans.find(key);
    if (it == ctx.plans.end()) {
        const cudaDataType_t t = cuda_type(dt);
        auto ds = std::make_unique<LtDescs>();
        FERRIS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&ds->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        FERRIS_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
        FERRIS_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
        if (bias) {
            const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
            FERRIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
                ds->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
            FERRIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
                ds->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
        }
        FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds->a, t, static_cast<uint64_t>(in),
                                                       static_cast<uint64_t>(outs), in));
        FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds->b, t, static_cast<uint64_t>(in),
                                                       static_cast<uint64_t>(n), in));
        FERRIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ds->d, cuda_type(out_dt),
                                                       static_cast<uint64_t>(outs),
                                                       static_cast<uint64_t>(n), outs));
        FERRIS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&ds->pref));
        const uint64_t ws = ctx.workspace_bytes;
        FERRIS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
            ds->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
        const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al_a},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al_b},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al_d},
            {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al_d}};
        for (const auto& [attr, value] : aligns)
            FERRIS_CUBLAS_CHECK(
                cublasLtMatmulPreferenceSetAttribute(ds->pref, attr, &value, sizeof(value)));
        GemmPlan plan;
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
            ctx.lt, ds->op, ds->a, ds->b, ds->d, ds->d, ds->pref, 1, &result, &found);
        plan.ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
        plan.algo = result.algo;
        plan.descs = std::move(ds);
        it = ctx.plans.emplace(key, std::move(plan)).first;
    }
    GemmPlan& plan = it->second;
    if (!plan.ok) return false;
    if (bias)  // the cached descriptor still points at the previous call's bias
        FERRIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
            plan.descs->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    const LtDescs& ds = *plan.descs;
    const float alpha = 1.0f, beta = 0.0f;
    FERRIS_CUBLAS_CHECK(cublasLtMatmul(ctx.lt, ds.op, &alpha, a_ptr, ds.a, b_ptr, ds.b, &beta, out,
                                       ds.d, out, ds.d, &plan.algo, ctx.workspace,
                                       ctx.workspace_bytes, stream));
    return true;
}

}  // namespace

void linear(GemmContext& ctx, float* out, const float* x, const void* weight, DType weight_dtype,
            const float* bias, int64_t n, int64_t in, int64_t outs, void* x_scratch,
            cudaStream_t stream) {
    if (n <= 0 || outs <= 0) return;
    if (in <= 0) {  // an empty sum: out = bias (or zeros)
        bias_rows(out, DType::F32, bias, DType::F32, n, outs, false, stream);
        return;
    }
    if (gemv(out, x, weight, weight_dtype, bias, n, in, outs, false, stream)) return;
    const void* b_ptr = x;
    if (weight_dtype != DType::F32) {
        convert_contiguous(x_scratch, weight_dtype, x, DType::F32, n * in, stream);
        b_ptr = x_scratch;
    }
    if (lt_matmul(ctx, out, DType::F32, weight, b_ptr, weight_dtype, bias, n, in, outs, stream))
        return;
    const cudaDataType_t t = cuda_type(weight_dtype);
    const float alpha = 1.0f, beta = 0.0f;
    FERRIS_CUBLAS_CHECK(cublasSetStream(ctx.blas, stream));
    FERRIS_CUBLAS_CHECK(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(outs),
                                     static_cast<int>(n), static_cast<int>(in), &alpha, weight, t,
                                     static_cast<int>(in), b_ptr, t, static_cast<int>(in), &beta,
                                     out, CUDA_R_32F, static_cast<int>(outs), CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
    if (bias) bias_rows(out, DType::F32, bias, DType::F32, n, outs, true, stream);
}

void linear_half(GemmContext& ctx, void* out, const void* x, const void* weight, DType dt,
                 const void* bias, DType bias_dtype, void* bias_scratch, int64_t n, int64_t in,
                 int64_t outs, cudaStream_t stream) {
    if (n <= 0 || outs <= 0) return;
    if (in <= 0) {
        bias_rows(out, dt, bias, bias_dtype, n, outs, false, stream);
        return;
    }
    // The epilogue's bias is in the output's dtype: another dtype is rounded into the scratch.
    const void* epilogue_bias = bias;
    if (bias && bias_dtype != dt) {
        convert_contiguous(bias_scratch, dt, bias, bias_dtype, outs, stream);
        epilogue_bias = bias_scratch;
    }
    if (lt_matmul(ctx, out, dt, weight, x, dt, epilogue_bias, n, in, outs, stream)) return;
    const cudaDataType_t t = cuda_type(dt);
    const float alpha = 1.0f, beta = 0.0f;
    FERRIS_CUBLAS_CHECK(cublasSetStream(ctx.blas, stream));
    FERRIS_CUBLAS_CHECK(cublasGemmEx(
        ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(outs), static_cast<int>(n),
        static_cast<int>(in), &alpha, weight, t, static_cast<int>(in), x, t, static_cast<int>(in),
        &beta, out, t, static_cast<int>(outs), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (bias) bias_rows(out, dt, bias, bias_dtype, n, outs, true, stream);
}

}  // namespace ferris::cuda
