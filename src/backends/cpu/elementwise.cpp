// CPU elementwise ops: add (with scale), the fused SwiGLU product silu(gate) * up, exact GELU.
#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::add(Tensor& out, const Tensor& a, const Tensor& b, float alpha) {
    TraceScope trace("add");
    if (out.dtype() != DType::F32) {
        Tensor o = empty(out.shape(), DType::F32);
        add(o, as_f32(a), as_f32(b), alpha);
        copy(out, o);
        return;
    }
    const int64_t n = a.numel();
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
    float* op = out.data<float>();
    parallel_for(n, min_grain_for(1), [&](int64_t i0, int64_t i1) {
        if (alpha == 1.0f) {
#pragma omp simd
            for (int64_t i = i0; i < i1; ++i) op[i] = ap[i] + bp[i];
        } else {
#pragma omp simd
            for (int64_t i = i0; i < i1; ++i) op[i] = ap[i] + alpha * bp[i];
        }
    });
}

void CpuBackend::silu_mul(Tensor& out, const Tensor& gate, const Tensor& up) {
    TraceScope trace("silu_mul");
    const int64_t n = gate.numel();
    const float* g = gate.data<float>();
    const float* u = up.data<float>();
    float* o = out.data<float>();
    const int64_t vectors = n / kLanes;
    parallel_for(vectors, min_grain_for(kLanes * 16), [&](int64_t v0, int64_t v1) {
        for (int64_t i = v0 * kLanes; i < v1 * kLanes; i += kLanes) {
            const VecF gv = vload(g + i);
            const VecF e = vexp(vsub(vzero(), gv));
            vstore(o + i, vmul(vdiv(gv, vadd(vset1(1.0f), e)), vload(u + i)));
        }
    });
    for (int64_t i = vectors * kLanes; i < n; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void CpuBackend::gelu(Tensor& out, const Tensor& x) {
    TraceScope trace("gelu");
    if (out.dtype() != DType::F32) {
        Tensor o = empty(out.shape(), DType::F32);
        gelu(o, as_f32(x));
        copy(out, o);
        return;
    }
    const int64_t n = x.numel();
    const float* xp = x.data<float>();
    float* o = out.data<float>();
    // 0.5 x (1 + erf(x / sqrt 2)) a vector at a time; a range's last values go through the same
    // vector code (padded), so a value's GELU does not depend on where it sits.
    const auto gelu_vec = [](VecF v) {
        const VecF e = verf(vmul(v, vset1(0.70710678118654752f)));
        return vmul(vmul(v, vset1(0.5f)), vadd(vset1(1.0f), e));
    };
    parallel_for(n, min_grain_for(32), [&](int64_t i0, int64_t i1) {
        int64_t i = i0;
        for (; i + kLanes <= i1; i += kLanes) vstore(o + i, gelu_vec(vload(xp + i)));
        if (i < i1) {
            float tail[kLanes] = {};
            std::copy(xp + i, xp + i1, tail);
            vstore(tail, gelu_vec(vload(tail)));
            std::copy(tail, tail + (i1 - i), o + i);
        }
    });
}

}  // namespace ferris::cpu
