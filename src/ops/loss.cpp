// cross_entropy front-end: logits (N, V) f32, targets (N) i32 in [0, V) -> per-row NLL (N).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
    check_dim("cross_entropy", "logits", logits, 2);
    check_dtype("cross_entropy", "logits", logits, DType::F32);
    check_contiguous("cross_entropy", "logits", logits);
    check_dim("cross_entropy", "targets", targets, 1);
    check_dtype("cross_entropy", "targets", targets, DType::I32);
    if (targets.size(0) != logits.size(0))
        fail(ErrorCode::ShapeMismatch, "[cross_entropy] ", targets.size(0), " targets for ",
             logits.size(0), " rows");
    if (targets.device().is_cpu()) {
        const int32_t* t = targets.data<int32_t>();
        for (int64_t i = 0; i < targets.numel(); ++i)
            if (t[i] < 0 || t[i] >= logits.size(1))
                fail(ErrorCode::InvalidArgument, "[cross_entropy] target ", t[i],
                     " outside the vocabulary (", logits.size(1), ")");
    }
    Backend& be = backend_checked(OpKind::CrossEntropy, logits);
    Tensor out = be.empty({logits.size(0)}, DType::F32);
    be.cross_entropy(out, logits, targets);
    return out;
}

}  // namespace ferris::ops
