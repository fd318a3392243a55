// CpuBackend: allocation, strided copies with dtype conversion, and the supports() table.
#include "backends/cpu/cpu_backend.h"

#include <cstring>

#include "backends/cpu/op_trace.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"

namespace ferris::cpu {

CpuBackend& cpu_backend() {
    static CpuBackend backend;
    return backend;
}

bool CpuBackend::supports(OpKind op, DType dtype) const {
    switch (op) {
        case OpKind::Copy:
            return true;
        case OpKind::Embedding:
        case OpKind::LayerNorm:
        case OpKind::AddLayerNorm:
        case OpKind::LinearGelu:
        case OpKind::Gelu:
        case OpKind::Add:
        case OpKind::Pool:
        case OpKind::Linear:
        case OpKind::LinearAdd:
        case OpKind::SwiGlu:
        case OpKind::RmsNormLinear:
        case OpKind::RmsNormSwiGlu:
        case OpKind::RopeQkv:
        case OpKind::RmsNormQkvRope:
        case OpKind::DecoderLayers:
        case OpKind::DecoderGreedyStep:
        case OpKind::Attention:
        case OpKind::WriteRows:
            return is_float(dtype);
        default:
            return dtype == DType::F32;
    }
}

Tensor CpuBackend::empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }

Tensor CpuBackend::as_f32(const Tensor& t) {
    if (t.dtype() == DType::F32) return t;
    Tensor f = empty(t.shape(), DType::F32);
    copy(f, t);
    return f;
}

namespace {

// Copies rows of the last dimension; both sides have a contiguous last dim.
void copy_row(char* dst, DType dd, const char* src, DType sd, int64_t n) {
    if (dd == sd) {
        std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(dd));
        return;
    }
    if (is_float(dd) && is_float(sd)) {
        convert_floats(src, sd, dst, dd, static_cast<size_t>(n));
        return;
    }
    for (int64_t i = 0; i < n; ++i) {
        double v = sd == DType::I32 ? static_cast<const int32_t*>((const void*)src)[i]
                   : sd == DType::I64
                       ? static_cast<double>(static_cast<const int64_t*>((const void*)src)[i])
                       : load_float(src, sd, i);
        if (dd == DType::I32) {
            reinterpret_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
        } else if (dd == DType::I64) {
            reinterpret_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v);
        } else {
            store_float(dst, dd, i, static_cast<float>(v));
        }
    }
}

}  // namespace

void CpuBackend::copy(Tensor& dst, const Tensor& src) {
    TraceScope trace("copy");
    const int64_t nd = src.dim();
    if (nd == 0) {
        copy_row(static_cast<char*>(dst.raw()), dst.dtype(), static_cast<const char*>(src.raw()),
                 src.dtype(), 1);
        return;
    }
    const int64_t inner = src.size(-1);
    const bool inner_contig =
        (src.strides().back() == 1 || inner == 1) && (dst.strides().back() == 1 || inner == 1);
    if (!inner_contig) {
        if (dst.strides().back() != 1 && inner != 1)
            fail(ErrorCode::Unsupported, "[copy] destination with a strided last dimension");
        Tensor s = src.contiguous();
        copy(dst, s);
        return;
    }
    const int64_t rows = src.numel() / (inner ? inner : 1);
    const size_t ds = dtype_size(dst.dtype()), ss = dtype_size(src.dtype());
    char* d0 = static_cast<char*>(dst.raw());
    const char* s0 = static_cast<const char*>(src.raw());
    parallel_for(rows, min_grain_for(inner), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            int64_t so = 0, dof = 0, rem = r;
            for (int64_t d = nd - 2; d >= 0; --d) {
                int64_t i = rem % src.shape()[d];
                rem /= src.shape()[d];
                so += i * src.strides()[d];
                dof += i * dst.strides()[d];
            }
            copy_row(d0 + dof * static_cast<int64_t>(ds), dst.dtype(),
                     s0 + so * static_cast<int64_t>(ss), src.dtype(), inner);
        }
    });
}

}  // namespace ferris::cpu
