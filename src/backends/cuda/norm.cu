// Norm kernels: one block per row, f32 partial sums per thread reduced over the block, or
// (LayerNorm rows up to 1024 wide) one warp per row held in registers; LayerNorm takes two passes
// (mean, then centred variance) like the CPU, so an offset mean costs nothing in precision. Weights
// are read in their stored dtype (a uniform runtime branch).
#include <type_traits>

#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/norm.cuh"

namespace ferris::cuda {

namespace {

__global__ void rms_norm_kernel(float* __restrict__ out, const float* __restrict__ x,
                                const void* __restrict__ weight, DType wd, int64_t c, float eps) {
    __shared__ float scratch[32];
    const float* xr = x + blockIdx.x * c;
    float* orow = out + blockIdx.x * c;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = block_reduce(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(c) + eps);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
        orow[i] = load_any(weight, wd, i) * (xr[i] * inv);
}

// x and out in f32 or half precision (a GPU model's activations), the statistics in f32.
template <typename Tin, typename Tout>
__global__ void layer_norm_kernel(Tout* __restrict__ out, const Tin* __restrict__ x,
                                  const void* __restrict__ weight, DType wd,
                                  const void* __restrict__ bias, DType bd, int64_t c, float eps) {
    __shared__ float scratch[32];
    const Tin* xr = x + blockIdx.x * c;
    Tout* orow = out + blockIdx.x * c;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) sum += to_float(xr[i]);
    const float mean = block_reduce(sum, scratch) / static_cast<float>(c);
    float var = 0.0f;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
        const float d = to_float(xr[i]) - mean;
        var = fmaf(d, d, var);
    }
    var = block_reduce(var, scratch);
    const float inv = 1.0f / sqrtf(var / static_cast<float>(c) + eps);
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
        orow[i] = from_float<Tout>((to_float(xr[i]) - mean) * inv * load_any(weight, wd, i) +
                                   load_any(bias, bd, i));
}

// The second half of the one-warp-per-row LayerNorm: the row is in the lane's registers, v[j]
// its columns 4 (lane + 32 j) .. + 3 (zeros past C), sum their total: mean and centred variance
// by warp shuffles, then the normalized row to orow.
template <typename Tout, int kChunks>
__device__ __forceinline__ void layer_norm_warp_finish(const float (&v)[kChunks][4], float sum,
                                                       int lane, int64_t chunks, int64_t c,
                                                       float eps, const void* weight, DType wd,
                                                       const void* bias, DType bd, Tout* orow) {
    const float mean = warp_sum(sum) / static_cast<float>(c);
    float var = 0.0f;
#pragma unroll
    for (int j = 0; j < kChunks; ++j)
        if (lane + 32 * j < chunks)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float d = v[j][e] - mean;
                var = fmaf(d, d, var);
            }
    const float inv = 1.0f / sqrtf(warp_sum(var) / static_cast<float>(c) + eps);
    // f32 weight and bias (the encoders'): 16-byte loads, four values each, instead of one.
    const bool f32_params = wd == DType::F32 && bd == DType::F32 &&
                            reinterpret_cast<uintptr_t>(weight) % 16 == 0 &&
                            reinterpret_cast<uintptr_t>(bias) % 16 == 0;
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
        const int64_t ch = lane + 32 * j;
        if (ch >= chunks) continue;
        float g[4], b[4], y[4];
        if (f32_params) {
            load4(static_cast<const float*>(weight) + ch * 4, g);
            load4(static_cast<const float*>(bias) + ch * 4, b);
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                g[e] = load_any(weight, wd, ch * 4 + e);
                b[e] = load_any(bias, bd, ch * 4 + e);
            }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) y[e] = (v[j][e] - mean) * inv * g[e] + b[e];
        store4(orow + ch * 4, y);
    }
}

// The first half: columns 4 (lane + 32 j) .. + 3 of the f32 sum of rows src[0] + src[1] + ...
// (count of them, added in that order) into v, zeros past C; returns the lane's total of them.
template <typename T, int kChunks, int kMax>
__device__ __forceinline__ float load_row_sum(const T* const (&src)[kMax], int count, int lane,
                                              int64_t chunks, float (&v)[kChunks][4]) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
        const int64_t ch = lane + 32 * j;
        v[j][0] = v[j][1] = v[j][2] = v[j][3] = 0.0f;
        if (ch < chunks) {
            load4(src[0] + ch * 4, v[j]);
#pragma unroll
            for (int t = 1; t < kMax; ++t) {
                if (t >= count) break;
                float r[4];
                load4(src[t] + ch * 4, r);
#pragma unroll
                for (int e = 0; e < 4; ++e) v[j][e] += r[e];
            }
#pragma unroll
            for (int e = 0; e < 4; ++e) sum += v[j][e];
        }
    }
    return sum;
}

// One warp per row for C <= 32 * 4 * kChunks, C % 4 == 0: the row (plus the residual, when given)
// is read once into registers in 4-element chunks; mean and centred variance are warp shuffles.
template <typename Tin, typename Tout, int kChunks>
__global__ void layer_norm_warp_kernel(Tout* __restrict__ out, const Tin* __restrict__ x,
                                       const Tin* __restrict__ residual,
                                       const void* __restrict__ weight, DType wd,
                                       const void* __restrict__ bias, DType bd, int64_t n,
                                       int64_t c, float eps) {
    pdl_begin();  // launched with launch_dependent: waits for the kernel before (its x)
    const int lane = threadIdx.x & 31;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= n) return;
    const int64_t chunks = c / 4;
    const Tin* src[2] = {x + row * c, residual ? residual + row * c : nullptr};
    float v[kChunks][4];
    const float sum = load_row_sum<Tin, kChunks, 2>(src, residual ? 2 : 1, lane, chunks, v);
    layer_norm_warp_finish<Tout, kChunks>(v, sum, lane, chunks, c, eps, weight, wd, bias, bd,
                                          out + row * c);
}

// The encoders' input in one pass: row r is the f32 sum of tables[t] row ids[t][r] (t in order,
// as the separate lookups and adds form it), then layer_norm_warp_finish: the same values as
// embedding, add and layer_norm_warp_kernel, without the three f32 intermediates.
template <typename Tt, typename Tout, int kChunks>
__global__ void embedding_layer_norm_kernel(Tout* __restrict__ out, EmbeddingRows rows,
                                            const void* __restrict__ weight, DType wd,
                                            const void* __restrict__ bias, DType bd, int64_t n,
                                            int64_t c, float eps) {
    const int lane = threadIdx.x & 31;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= n) return;
    const int64_t chunks = c / 4;
    const Tt* src[EmbeddingRows::kMax];
#pragma unroll
    for (int t = 0; t < EmbeddingRows::kMax; ++t)
        src[t] = t < rows.count
                     ? static_cast<const Tt*>(rows.tables[t]) + int64_t{rows.ids[t][row]} * c
                     : nullptr;
    float v[kChunks][4];
    const float sum =
        load_row_sum<Tt, kChunks, EmbeddingRows::kMax>(src, rows.count, lane, chunks, v);
    layer_norm_warp_finish<Tout, kChunks>(v, sum, lane, chunks, c, eps, weight, wd, bias, bd,
                                          out + row * c);
}

template <typename Tin, typename Tout>
bool launch_layer_norm_warp(void* out, const void* x, const void* residual, const void* weight,
                            DType wd, const void* bias, DType bd, int64_t n, int64_t c, float eps,
                            cudaStream_t stream) {
    if (c % 4 != 0 || c > 1024) return false;
    constexpr int kWarps = 8;
    const auto blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
    auto go = [&](auto kernel) {
        launch_dependent("layer_norm_warp_kernel", kernel, dim3(blocks), dim3(kWarps * 32), 0,
                         stream, static_cast<Tout*>(out), static_cast<const Tin*>(x),
                         static_cast<const Tin*>(residual), weight, wd, bias, bd, n, c, eps);
    };
    if (c <= 256)
        go(layer_norm_warp_kernel<Tin, Tout, 2>);
    else if (c <= 512)
        go(layer_norm_warp_kernel<Tin, Tout, 4>);
    else
        go(layer_norm_warp_kernel<Tin, Tout, 8>);
    return true;
}

template <typename Tin, typename Tout>
void launch_layer_norm(void* out, const void* x, const void* weight, DType wd, const void* bias,
                       DType bd, int64_t n, int64_t c, float eps, int threads,
                       cudaStream_t stream) {
    if (launch_layer_norm_warp<Tin, Tout>(out, x, nullptr, weight, wd, bias, bd, n, c, eps, stream))
        return;
    layer_norm_kernel<Tin, Tout><<<static_cast<unsigned>(n), threads, 0, stream>>>(
        static_cast<Tout*>(out), static_cast<const Tin*>(x), weight, wd, bias, bd, c, eps);
}

template <typename Tin>
void layer_norm_from(void* out, DType out_dt, const void* x, const void* weight, DType wd,
                     const void* bias, DType bd, int64_t n, int64_t c, float eps, int threads,
                     cudaStream_t stream) {
    if (out_dt == DType::F32)
        launch_layer_norm<Tin, float>(out, x, weight, wd, bias, bd, n, c, eps, threads, stream);
    else if (out_dt == DType::F16)
        launch_layer_norm<Tin, __half>(out, x, weight, wd, bias, bd, n, c, eps, threads, stream);
    else
        launch_layer_norm<Tin, __nv_bfloat16>(out, x, weight, wd, bias, bd, n, c, eps, threads,
                                              stream);
}

int threads_for(int64_t c) { return c <= 256 ? 64 : c <= 1024 ? 128 : c <= 4096 ? 256 : 512; }

}  // namespace

void rms_norm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n,
              int64_t c, float eps, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return;
    rms_norm_kernel<<<static_cast<unsigned>(n), threads_for(c), 0, stream>>>(out, x, weight,
                                                                             weight_dtype, c, eps);
    FERRIS_CUDA_LAUNCH_CHECK("rms_norm_kernel");
}

void layer_norm(void* out, DType out_dtype, const void* x, DType x_dtype, const void* weight,
                DType weight_dtype, const void* bias, DType bias_dtype, int64_t n, int64_t c,
                float eps, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return;
    const int threads = threads_for(c);
    if (x_dtype == DType::F32)
        layer_norm_from<float>(out, out_dtype, x, weight, weight_dtype, bias, bias_dtype, n, c, eps,
                               threads, stream);
    else if (x_dtype == DType::F16)
        layer_norm_from<__half>(out, out_dtype, x, weight, weight_dtype, bias, bias_dtype, n, c,
                                eps, threads, stream);
    else
        layer_norm_from<__nv_bfloat16>(out, out_dtype, x, weight, weight_dtype, bias, bias_dtype, n,
                                       c, eps, threads, stream);
    FERRIS_CUDA_LAUNCH_CHECK("layer_norm_kernel");
}

bool add_layer_norm(void* out, const void* x, const void* residual, DType dtype, const void* weight,
                    DType weight_dtype, const void* bias, DType bias_dtype, int64_t n, int64_t c,
                    float eps, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return true;
    bool done;
    if (dtype == DType::F32)
        done = launch_layer_norm_warp<float, float>(out, x, residual, weight, weight_dtype, bias,
                                                    bias_dtype, n, c, eps, stream);
    else if (dtype == DType::F16)
        done = launch_layer_norm_warp<__half, __half>(out, x, residual, weight, weight_dtype, bias,
                                                      bias_dtype, n, c, eps, stream);
    else
        done = launch_layer_norm_warp<__nv_bfloat16, __nv_bfloat16>(
            out, x, residual, weight, weight_dtype, bias, bias_dtype, n, c, eps, stream);
    if (done) FERRIS_CUDA_LAUNCH_CHECK("layer_norm_warp_kernel");
    return done;
}

bool embedding_layer_norm(void* out, DType out_dtype, const EmbeddingRows& rows, DType table_dtype,
                          const void* weight, DType weight_dtype, const void* bias,
                          DType bias_dtype, int64_t n, int64_t c, float eps, cudaStream_t stream) {
    if (n <= 0 || c <= 0) return true;
    if (c % 4 != 0 || c > 1024 || rows.count < 1 || rows.count > EmbeddingRows::kMax) return false;
    const uintptr_t align = table_dtype == DType::F32 ? 16 : 8;  // load4's vector
    for (int t = 0; t < rows.count; ++t)
        if (reinterpret_cast<uintptr_t>(rows.tables[t]) % align != 0) return false;
    constexpr int kWarps = 8;
    const auto blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
    auto by_out = [&](auto table_zero, auto chunks) {
        using Tt = decltype(table_zero);
        constexpr int kChunks = decltype(chunks)::value;
        auto go = [&](auto out_zero) {
            using To = decltype(out_zero);
            embedding_layer_norm_kernel<Tt, To, kChunks><<<blocks, kWarps * 32, 0, stream>>>(
                static_cast<To*>(out), rows, weight, weight_dtype, bias, bias_dtype, n, c, eps);
        };
        if (out_dtype == DType::F32)
            go(float{});
        else if (out_dtype == DType::F16)
            go(__half{});
        else
            go(__nv_bfloat16{});
    };
    auto by_width = [&](auto table_zero) {
        if (c <= 256)
            by_out(table_zero, std::integral_constant<int, 2>{});
        else if (c <= 512)
            by_out(table_zero, std::integral_constant<int, 4>{});
        else
            by_out(table_zero, std::integral_constant<int, 8>{});
    };
    if (table_dtype == DType::F32)
        by_width(float{});
    else if (table_dtype == DType::F16)
        by_width(__half{});
    else
        by_width(__nv_bfloat16{});
    FERRIS_CUDA_LAUNCH_CHECK("embedding_layer_norm_kernel");
    return true;
}

}  // namespace ferris::cuda
