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
#include "backends/cuda/launch.cuh"
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

namespace {

// Decode-sized products (N <= 4 rows, bf16/f16 weights): `split` warps share an output row, each
// streaming a strided part of it in 16-byte loads issued four at a time (so enough bytes are in
// flight to cover memory latency even when rows are few and long), then the block sums the
// warps' partial dot products. One kernel: no x conversion pass. x is rounded to the weight dtype
// first, as the tensor-core path does, so both paths compute the same products.
constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvUnroll = 4;

// x rows are either read as they are, or RMS-normalized on the fly (`norm`: the norm's weight and
// each row's 1 / rms, computed by the block first), so a pre-norm costs no kernel of its own.
struct GemvNorm {
    const float* weight = nullptr;  // (in) f32, or null: x is used as it is
    float eps = 0.0f;
};

template <typename T, int N>
__device__ __forceinline__ void gemv_chunk(const uint4& packed, const float* x, int64_t in,
                                           int64_t c, const float* g, const float (&inv)[N],
                                           float (&acc)[N]) {
    const T* e = reinterpret_cast<const T*>(&packed);
    float gv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    if (g) {
        const float4 ga = reinterpret_cast<const float4*>(g + c * 8)[0];
        const float4 gb = reinterpret_cast<const float4*>(g + c * 8)[1];
        gv[0] = ga.x, gv[1] = ga.y, gv[2] = ga.z, gv[3] = ga.w;
        gv[4] = gb.x, gv[5] = gb.y, gv[6] = gb.z, gv[7] = gb.w;
    }
#pragma unroll
    for (int r = 0; r < N; ++r) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * in + c * 8);
        const float4 a = xr[0], b = xr[1];
        float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        if (g) {
#pragma unroll
            for (int k = 0; k < 8; ++k) xv[k] = gv[k] * (xv[k] * inv[r]);  // as the rms_norm op
        }
#pragma unroll
        for (int k = 0; k < 8; ++k) acc[r] += to_float(e[k]) * to_float(from_float<T>(xv[k]));
    }
}

// kMode: 0 out = W x + b; 1 out += W x + b (a residual add fused in); 2 out = silu(Wg x) * (Wu x)
// with w2 = Wu (SwiGLU: both rows read in one pass). The register caps keep 3-4 blocks resident
// per multiprocessor: at 116 registers the SwiGLU product ran with 2 and needed 2.3 waves.
template <typename T, int N, int kMode>
__global__ void __launch_bounds__(kGemvThreads, kMode == 2 ? 3 : 4)
    gemv_kernel(float* out, const float* x, const T* w, const T* w2, const float* bias, int64_t in,
                int64_t outs, int split, GemvNorm norm) {
    constexpr int kDots = kMode == 2 ? 2 : 1;
    __shared__ float partial[kDots][kGemvWarps][N];
    __shared__ float reduce_scratch[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int rows_per_block = kGemvWarps / split;
    const int64_t groups = (outs + rows_per_block - 1) / rows_per_block;
    const int64_t chunks = in / 8, step = static_cast<int64_t>(split) * 32;
    const int64_t c0 = static_cast<int64_t>(warp % split) * 32 + lane;
    // Blocks loop over groups of rows (a grid of a few waves: the norm below is found once per
    // block, not once per 8 rows of a 152k-row lm_head).
    auto row_of = [&](int64_t group) { return group * rows_per_block + warp / split; };
    auto load_first = [&](int64_t o, uint4(&first)[kDots][kGemvUnroll]) {
#pragma unroll
        for (int d = 0; d < kDots; ++d) {
            const uint4* row = reinterpret_cast<const uint4*>((d == 0 ? w : w2) + o * in);
#pragma unroll
            for (int u = 0; u < kGemvUnroll; ++u) {
                const int64_t c = c0 + u * step;
                first[d][u] = o < outs && c < chunks ? __ldg(row + c) : make_uint4(0, 0, 0, 0);
            }
        }
    };
    // The first weight loads go out before waiting on the previous kernel (PDL): weights never
    // depend on it, so their memory latency overlaps its tail. Only x has to wait.
    uint4 first[kDots][kGemvUnroll];
    load_first(row_of(blockIdx.x), first);
    pdl_begin();
    float inv[N];
#pragma unroll
    for (int r = 0; r < N; ++r) inv[r] = 1.0f;
    if (norm.weight) {  // every block finds the rows' 1 / rms itself (x is a few KB, in L2)
#pragma unroll
        for (int r = 0; r < N; ++r) {
            float ss = 0.0f;
            for (int64_t i = threadIdx.x; i < in; i += kGemvThreads)
                ss += x[r * in + i] * x[r * in + i];
            ss = block_reduce(ss, reduce_scratch);
            inv[r] = 1.0f / sqrtf(ss / static_cast<float>(in) + norm.eps);
        }
    }
    for (int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
        const int64_t o = row_of(group);
        const bool live = o < outs;
        if (group != blockIdx.x) load_first(o, first);
        float acc[kDots][N];
#pragma unroll
        for (int d = 0; d < kDots; ++d)
#pragma unroll
            for (int r = 0; r < N; ++r) acc[d][r] = 0.0f;
        if (live) {
#pragma unroll
            for (int d = 0; d < kDots; ++d) {
                const uint4* row = reinterpret_cast<const uint4*>((d == 0 ? w : w2) + o * in);
#pragma unroll
                for (int u = 0; u < kGemvUnroll; ++u) {
                    const int64_t c = c0 + u * step;
                    if (c < chunks)
                        gemv_chunk<T, N>(first[d][u], x, in, c, norm.weight, inv, acc[d]);
                }
                for (int64_t c = c0 + kGemvUnroll * step; c < chunks; c += kGemvUnroll * step) {
                    uint4 packed[kGemvUnroll];
#pragma unroll
                    for (int u = 0; u < kGemvUnroll; ++u)
                        packed[u] = c + u * step < chunks ? __ldg(row + c + u * step)
                                                          : make_uint4(0, 0, 0, 0);
#pragma unroll
                    for (int u = 0; u < kGemvUnroll; ++u)
                        if (c + u * step < chunks)
                            gemv_chunk<T, N>(packed[u], x, in, c + u * step, norm.weight, inv,
                                             acc[d]);
                }
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
        if (warp % split == 0 && lane < N && live) {
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
        __syncthreads();  // `partial` is read before the next group writes it
    }
}

template <typename T, int kMode>
void launch_gemv(float* out, const float* x, const void* w, const void* w2, const float* bias,
                 int64_t n, int64_t in, int64_t outs, GemvNorm norm, cudaStream_t stream) {
    // Long rows get more warps each (up to all 8 of the block), short rows one.
    const int split = in >= 4096 ? 8 : in >= 2048 ? 4 : in >= 1024 ? 2 : 1;
    const int64_t rows_per_block = kGemvWarps / split;
    const int64_t groups = (outs + rows_per_block - 1) / rows_per_block;
    // At most 4 waves of 8 resident blocks per multiprocessor; blocks loop over the rest.
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(groups, 4 * 8 * sm_count()));
    const T* wt = static_cast<const T*>(w);
    const T* wt2 = static_cast<const T*>(w2);
    switch (n) {
        case 1:
            launch_dependent("gemv_kernel", gemv_kernel<T, 1, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        case 2:
            launch_dependent("gemv_kernel", gemv_kernel<T, 2, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        case 3:
            launch_dependent("gemv_kernel", gemv_kernel<T, 3, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
        default:
            launch_dependent("gemv_kernel", gemv_kernel<T, 4, kMode>, blocks, kGemvThreads, 0,
                             stream, out, x, wt, wt2, bias, in, outs, split, norm);
            break;
    }
    FERRIS_CUDA_CHECK(cudaGetLastError());
}

template <int kMode>
void launch_gemv_any(float* out, const float* x, const void* w, const void* w2, DType dt,
                     const float* bias, int64_t n, int64_t in, int64_t outs, GemvNorm norm,
                     cudaStream_t stream) {
    if (dt == DType::BF16)
        launch_gemv<__nv_bfloat16, kMode>(out, x, w, w2, bias, n, in, outs, norm, stream);
    else
        launch_gemv<__half, kMode>(out, x, w, w2, bias, n, in, outs, norm, stream);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool gemv_applies(const float* x, const void* w, DType dt, int64_t n, int64_t in,
                  const float* norm_weight) {
    return n >= 1 && n <= 4 && dt != DType::F32 && in % 8 == 0 && aligned16(x) && aligned16(w) &&
           (!norm_weight || aligned16(norm_weight));
}

}  // namespace

bool gemv(float* out, const float* x, const void* weight, DType weight_dtype, const float* bias,
          int64_t n, int64_t in, int64_t outs, bool accumulate, cudaStream_t stream,
          const float* norm_weight, float eps) {
    if (!gemv_applies(x, weight, weight_dtype, n, in, norm_weight) || outs <= 0) return false;
    const GemvNorm norm{norm_weight, eps};
    if (accumulate)
        launch_gemv_any<1>(out, x, weight, nullptr, weight_dtype, bias, n, in, outs, norm, stream);
    else
        launch_gemv_any<0>(out, x, weight, nullptr, weight_dtype, bias, n, in, outs, norm, stream);
    return true;
}

bool gemv_swiglu(float* out, const float* x, const void* w_gate, const void* w_up, DType dt,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream, const float* norm_weight,
                 float eps) {
    if (!gemv_applies(x, w_gate, dt, n, in, norm_weight) || !aligned16(w_up) || outs <= 0)
        return false;
    launch_gemv_any<2>(out, x, w_gate, w_up, dt, nullptr, n, in, outs, GemvNorm{norm_weight, eps},
                       stream);
    return true;
}

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
