// rope_ front-end: x (N, H, HS) f32 contiguous with even HS; positions (N) i32.
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

void rope_(Tensor& x, const Tensor& positions, float theta) {
    check_dim("rope", "x", x, 3);
    check_dtype("rope", "x", x, DType::F32);
    check_contiguous("rope", "x", x);
    check_dim("rope", "positions", positions, 1);
    check_dtype("rope", "positions", positions, DType::I32);
    if (positions.size(0) != x.size(0))
        fail(ErrorCode::ShapeMismatch, "[rope] ", positions.size(0), " positions for ", x.size(0),
             " rows");
    if (x.size(2) % 2 != 0)
        fail(ErrorCode::ShapeMismatch, "[rope] head size ", x.size(2), " is odd");
    check_same_device("rope", x, positions);
    backend_checked(OpKind::Rope, x).rope(x, positions, theta);
}

}  // namespace ferris::ops
