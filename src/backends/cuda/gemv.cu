// Decode GEMV launchers (the kernel: gemv_kernel.cuh). Picks the threads an item, sizes the grid to
// one wave of resident blocks and dispatches on dtype, rows and mode.
#include <algorithm>

#include "backends/cuda/check.h"
#include "backends/cuda/gemv.cuh"
#include "backends/cuda/gemv_kernel.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Staged x rows must fit a block's shared memory (with room to spare on every card since sm_80).
constexpr int64_t kGemvMaxStagedBytes = 160 * 1024;

bool applies(const float* x, const void* w, DType dt, int64_t n, int64_t in,
             const float* norm_weight) {
    const bool staged = gemv_stages_x(norm_weight != nullptr, in);
    return n >= 1 && n <= 4 && (dt == DType::BF16 || dt == DType::F16) && in % 8 == 0 && in > 0 &&
           aligned16(x) && aligned16(w) && (!norm_weight || aligned16(norm_weight)) &&
           (!staged || n * in * static_cast<int64_t>(sizeof(float)) <= kGemvMaxStagedBytes);
}

template <typename T, int N, GemvMode kMode>
void launch(GemvParams p, cudaStream_t stream) {
    const auto kernel = gemv_kernel<T, N, kMode>;
    const bool staged = gemv_stages_x(p.norm_weight != nullptr, p.in);
    const size_t smem = staged ? static_cast<size_t>(N) * p.in * sizeof(float) : 0;
    if (smem > 48 * 1024)
        FERRIS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem)));
    if (p.team == 0) p.team = gemv_team_for(p.in);
    const int64_t per_block = kGemvBlock / p.team;
    const int64_t wanted = (p.items + per_block - 1) / per_block;
    const int64_t wave =
        static_cast<int64_t>(sm_count()) * resident_blocks(kernel, kGemvBlock, smem);
    const auto blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted, wave)));
    launch_dependent("gemv_kernel", kernel, blocks, kGemvBlock, smem, stream, p);
}

template <GemvMode kMode>
void dispatch(const GemvParams& p, DType dt, int64_t n, cudaStream_t stream) {
    const bool bf16 = dt == DType::BF16;
    switch (n) {
        case 1:
            return bf16 ? launch<__nv_bfloat16, 1, kMode>(p, stream)
                        : launch<__half, 1, kMode>(p, stream);
        case 2:
            return bf16 ? launch<__nv_bfloat16, 2, kMode>(p, stream)
                        : launch<__half, 2, kMode>(p, stream);
        case 3:
            return bf16 ? launch<__nv_bfloat16, 3, kMode>(p, stream)
                        : launch<__half, 3, kMode>(p, stream);
        default:
            return bf16 ? launch<__nv_bfloat16, 4, kMode>(p, stream)
                        : launch<__half, 4, kMode>(p, stream);
    }
}

}  // namespace

bool gemv(float* out, const float* x, const void* weight, DType weight_dtype, const float* bias,
          int64_t n, int64_t in, int64_t outs, bool accumulate, cudaStream_t stream,
          const float* norm_weight, float eps) {
    if (!applies(x, weight, weight_dtype, n, in, norm_weight) || outs <= 0) return false;
    GemvParams p;
    p.out = out, p.x = x, p.w = weight, p.bias = bias, p.in = in, p.items = outs;
    p.team = 0, p.norm_weight = norm_weight, p.eps = eps;
    if (accumulate)
        dispatch<GemvMode::Accumulate>(p, weight_dtype, n, stream);
    else
        dispatch<GemvMode::Plain>(p, weight_dtype, n, stream);
    return true;
}

bool gemv_swiglu(float* out, const float* x, const void* w_gate, const void* w_up, DType dt,
                 int64_t n, int64_t in, int64_t outs, cudaStream_t stream, const float* norm_weight,
                 float eps) {
    if (!applies(x, w_gate, dt, n, in, norm_weight) || !aligned16(w_up) || outs <= 0) return false;
    GemvParams p;
    p.out = out, p.x = x, p.w = w_gate, p.w2 = w_up, p.in = in, p.items = outs;
    p.team = 0, p.norm_weight = norm_weight, p.eps = eps;
    dispatch<GemvMode::SwiGlu>(p, dt, n, stream);
    return true;
}

bool gemv_qkv_rope(const GemvRope& rope, const float* x, const void* weight, DType dt,
                   const float* bias, int64_t n, int64_t in, cudaStream_t stream,
                   const float* norm_weight, float eps) {
    if (!applies(x, weight, dt, n, in, norm_weight) || rope.hs < 2 || rope.hs % 2 != 0 ||
        rope.nh <= 0 || rope.nkv <= 0)
        return false;
    GemvParams p;
    p.x = x, p.w = weight, p.bias = bias, p.in = in;
    p.items = (rope.nh + 2 * rope.nkv) * rope.hs / 2;
    p.team = 0, p.norm_weight = norm_weight, p.eps = eps, p.rope = rope;
    dispatch<GemvMode::QkvRope>(p, dt, n, stream);
    return true;
}

}  // namespace ferris::cuda
