// pool front-end: sentence pooling over packed sequences (mean / CLS / max, optional L2 norm).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor pool(const Tensor& x, const Tensor& segments, PoolMode mode, bool normalize) {
    const char* op = "pool";
    check_dim(op, "x", x, 2);
    check_float(op, "x", x);  // f32, or a GPU model's half-precision activations
    check_contiguous(op, "x", x);
    check_dtype(op, "segments", segments, DType::I32);
    check_same_device(op, x, segments);
    if (segments.dim() != 1 || segments.size(0) < 2 || !segments.is_contiguous())
        fail(ErrorCode::ShapeMismatch, "[", op, "] segments ", shape_str(segments.shape()),
             " must be (NS + 1) offsets with NS >= 1");
    if (segments.device().is_cpu()) {
        const int32_t* g = segments.data<int32_t>();
        const int64_t n = segments.size(0);
        if (g[0] != 0 || g[n - 1] != x.size(0))
            fail(ErrorCode::InvalidArgument, "[", op, "] segments run ", g[0], "..", g[n - 1],
                 ", expected 0..", x.size(0));
        for (int64_t i = 1; i < n; ++i)
            if (g[i] <= g[i - 1])
                fail(ErrorCode::InvalidArgument, "[", op, "] segment ", i - 1, " is empty");
    }
    Backend& be = backend_checked(OpKind::Pool, x);
    Tensor out = be.empty({segments.size(0) - 1, x.size(1)}, DType::F32);
    be.pool(out, x, segments, mode, normalize);
    return out;
}

}  // namespace ferris::ops
