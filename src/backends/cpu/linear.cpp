// CPU linear: out (N, O) = x (N, I) @ W (O, I)^T + b. Weights stay in their stored dtype.
// bf16 weights on CPUs with AVX512-BF16 use gemm_bf16 (activations rounded to bf16, as a bf16
// model computes). Otherwise:
// Few rows (decode): a SIMD matrix-vector kernel that streams W once, converting on the fly —
// memory-bandwidth bound, as it must be. Then gemm_f32, reading both operands in place, for the
// products gemm_f32_takes gives it (a query, a short prompt; half weights; everything where
// OpenBLAS has no AVX2 kernels for this CPU), and gemm_blas (OpenBLAS) for the rest.

#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/gemm_bf16.h"
#include "backends/cpu/gemm_blas.h"
#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/op_trace.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"

namespace ferris::cpu {

namespace {

constexpr int64_t kGemvMaxRows = 4;

inline VecF load_w(const void* w, DType dt, int64_t i) {
    if (dt == DType::F32) return vload(static_cast<const float*>(w) + i);
    return vload(static_cast<const uint16_t*>(w) + i, dt);
}

// R rows of x against one weight row; the weight vector is loaded once for all R rows.
template <int R>
void dot_rows(const float* x, int64_t ldx, const void* w, DType dt, int64_t n, float* result) {
    VecF acc[R];
    for (int r = 0; r < R; ++r) acc[r] = vzero();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        VecF wv = load_w(w, dt, i);
        for (int r = 0; r < R; ++r) acc[r] = vfma(vload(x + r * ldx + i), wv, acc[r]);
    }
    for (int r = 0; r < R; ++r) {
        float s = vsum(acc[r]);
        for (int64_t j = i; j < n; ++j) s += x[r * ldx + j] * load_float(w, dt, j);
        result[r] = s;
    }
}

void gemv(float* out, const float* x, const Tensor& weight, int64_t rows, int64_t in,
          int64_t outs) {
    const DType dt = weight.dtype();
    const size_t row_bytes = static_cast<size_t>(in) * dtype_size(dt);
    const char* w = static_cast<const char*>(weight.raw());
    parallel_for(outs, min_grain_for(in * rows), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
            float res[kGemvMaxRows];
            const void* wr = w + static_cast<size_t>(o) * row_bytes;
            switch (rows) {
                case 1:
                    dot_rows<1>(x, in, wr, dt, in, res);
                    break;
                case 2:
                    dot_rows<2>(x, in, wr, dt, in, res);
                    break;
                case 3:
                    dot_rows<3>(x, in, wr, dt, in, res);
                    break;
                default:
                    dot_rows<4>(x, in, wr, dt, in, res);
                    break;
            }
            for (int64_t r = 0; r < rows; ++r) out[r * outs + o] = res[r];
        }
    });
}

// out (rows, outs) += bias, in f32 whatever the bias's dtype.
void add_bias(float* out, const Tensor& bias, int64_t rows, int64_t outs) {
    std::vector<float> b(static_cast<size_t>(outs));
    convert_floats(bias.raw(), bias.dtype(), b.data(), DType::F32, b.size());
    parallel_for(rows, min_grain_for(outs), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            float* o = out + r * outs;
            int64_t i = 0;
            for (; i + kLanes <= outs; i += kLanes)
                vstore(o + i, vadd(vload(o + i), vload(b.data() + i)));
            for (; i < outs; ++i) o[i] += b[static_cast<size_t>(i)];
        }
    });
}

}  // namespace

void CpuBackend::linear(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    TraceScope trace("linear");
    if (out.dtype() != DType::F32) {  // half activations: f32 in and out, rounded like the GPU
        Tensor o = empty(out.shape(), DType::F32);
        linear(o, as_f32(x), weight, bias);
        copy(out, o);
        return;
    }
    const int64_t in = x.size(-1), rows = x.numel() / in, outs = weight.size(0);
    const float* xp = x.data<float>();
    float* op = out.data<float>();
    if (weight.dtype() == DType::BF16 && have_bf16_gemm()) {
        gemm_bf16(op, xp, weight.data<uint16_t>(), rows, in, outs);
    } else if (rows <= kGemvMaxRows * 2) {
        for (int64_t r0 = 0; r0 < rows; r0 += kGemvMaxRows)
            gemv(op + r0 * outs, xp + r0 * in, weight, std::min(kGemvMaxRows, rows - r0), in, outs);
    } else if (gemm_f32_takes(rows, weight.dtype())) {
        gemm_f32(op, xp, weight.raw(), weight.dtype(), rows, in, outs);
    } else {
        gemm_blas(op, xp, weight.raw(), weight.dtype(), rows, in, outs);
    }
    if (bias.defined()) add_bias(op, bias, rows, outs);
}

void CpuBackend::linear_gelu(Tensor& out, const Tensor& x, const Tensor& weight,
                             const Tensor& bias) {
    TraceScope trace("linear_gelu");
    linear(out, x, weight, bias);  // rounded to out's dtype first, as the unfused layers would
    gelu(out, out);
}

void CpuBackend::rms_norm_linear(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                                 const Tensor& weight, const Tensor& bias) {
    TraceScope trace("rms_norm_linear");
    Tensor h = empty(x.shape(), DType::F32);
    rms_norm(h, x, norm_weight, eps);
    linear(out, h, weight, bias);
}

void CpuBackend::rms_norm_swiglu(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                                 const Tensor& w_gate, const Tensor& w_up) {
    TraceScope trace("rms_norm_swiglu");
    Tensor h = empty(x.shape(), DType::F32);
    rms_norm(h, x, norm_weight, eps);
    swiglu(out, h, w_gate, w_up);
}

void CpuBackend::rope_qkv(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv,
                          const Tensor& positions, float theta) {
    TraceScope trace("rope_qkv");
    const int64_t n = qkv.size(0), nh = q.size(1), hs = q.size(2), nkv = k_cache.size(2);
    Tensor k = empty({1, n, nkv, hs}, DType::F32), v = empty({1, n, nkv, hs}, DType::F32);
    Tensor q_flat = q.reshape({n, nh * hs}), k_flat = k.reshape({n, nkv * hs}),
           v_flat = v.reshape({n, nkv * hs});
    copy(q_flat, qkv.narrow(1, 0, nh * hs));
    copy(k_flat, qkv.narrow(1, nh * hs, nkv * hs));
    copy(v_flat, qkv.narrow(1, (nh + nkv) * hs, nkv * hs));
    rope(q, positions, theta);
    Tensor k_rows = k.reshape({n, nkv, hs});
    rope(k_rows, positions, theta);
    write_rows(k_cache, k, positions);
    write_rows(v_cache, v, positions);
}

void CpuBackend::rms_norm_qkv_rope(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& x,
                                   const Tensor& norm_weight, float eps, const Tensor& weight,
                                   const Tensor& bias, const Tensor& positions, float theta) {
    TraceScope trace("rms_norm_qkv_rope");
    Tensor qkv = empty({x.size(0), weight.size(0)}, DType::F32);
    rms_norm_linear(qkv, x, norm_weight, eps, weight, bias);
    rope_qkv(q, k_cache, v_cache, qkv, positions, theta);
}

}  // namespace ferris::cpu

namespace ferris::cpu {

// The fused decode ops are plain compositions on the CPU (one product per call either way).
void CpuBackend::linear_add(Tensor& acc, const Tensor& x, const Tensor& weight,
                            const Tensor& bias) {
    TraceScope trace("linear_add");
    Tensor y = empty(acc.shape(), DType::F32);
    linear(y, x, weight, bias);
    add(acc, acc, y, 1.0f);
}

void CpuBackend::swiglu(Tensor& out, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    TraceScope trace("swiglu");
    Tensor gate = empty(out.shape(), DType::F32), up = empty(out.shape(), DType::F32);
    linear(gate, x, w_gate, Tensor());
    linear(up, x, w_up, Tensor());
    silu_mul(out, gate, up);
}

}  // namespace ferris::cpu
