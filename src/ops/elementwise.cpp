// add / add_ / silu_mul / gelu front-ends (same shapes, contiguous). add and gelu also take
// half-precision activations (a GPU model running in bf16/f16); the result keeps the dtype.
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

namespace {
void check_pair(const char* op, const Tensor& a, const Tensor& b, bool any_float = false) {
    check_defined(op, "a", a);
    check_defined(op, "b", b);
    if (any_float) {
        check_float(op, "a", a);
        check_dtype(op, "b", b, a.dtype());
    } else {
        check_dtype(op, "a", a, DType::F32);
        check_dtype(op, "b", b, DType::F32);
    }
    check_contiguous(op, "a", a);
    check_contiguous(op, "b", b);
    check_same_shape(op, a, b);
    check_same_device(op, a, b);
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b, float alpha) {
    check_pair("add", a, b, true);
    Backend& be = backend_checked(OpKind::Add, a);
    Tensor out = be.empty(a.shape(), a.dtype());
    be.add(out, a, b, alpha);
    return out;
}

void add_(Tensor& a, const Tensor& b, float alpha) {
    check_pair("add", a, b, true);
    backend_checked(OpKind::Add, a).add(a, a, b, alpha);
}

Tensor silu_mul(const Tensor& gate, const Tensor& up) {
    check_pair("silu_mul", gate, up);
    Backend& be = backend_checked(OpKind::SiluMul, gate);
    Tensor out = be.empty(gate.shape(), DType::F32);
    be.silu_mul(out, gate, up);
    return out;
}

Tensor gelu(const Tensor& x) {
    check_defined("gelu", "x", x);
    check_float("gelu", "x", x);
    check_contiguous("gelu", "x", x);
    Backend& be = backend_checked(OpKind::Gelu, x);
    Tensor out = be.empty(x.shape(), x.dtype());
    be.gelu(out, x);
    return out;
}

void gelu_(Tensor& x) {
    check_defined("gelu_", "x", x);
    check_float("gelu_", "x", x);
    check_contiguous("gelu_", "x", x);
    backend_checked(OpKind::Gelu, x).gelu(x, x);  // elementwise: out may be x on every backend
}

}  // namespace ferris::ops
