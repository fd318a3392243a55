// embedding front-end: table (V, C) any float dtype, ids (N) i32 in [0, V).
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor embedding(const Tensor& table, const Tensor& ids) {
    check_dim("embedding", "table", table, 2);
    check_dim("embedding", "ids", ids, 1);
    check_dtype("embedding", "ids", ids, DType::I32);
    check_contiguous("embedding", "table", table);
    check_same_device("embedding", table, ids);
    if (ids.device().is_cpu()) {
        const int32_t* p = ids.data<int32_t>();
        for (int64_t i = 0; i < ids.numel(); ++i)
            if (p[i] < 0 || p[i] >= table.size(0))
                fail(ErrorCode::InvalidArgument, "[embedding] token id ", p[i],
                     " outside the vocabulary (", table.size(0), ")");
    }
    Backend& be = backend_checked(OpKind::Embedding, table);
    Tensor out = be.empty({ids.size(0), table.size(1)}, DType::F32);
    be.embedding(out, table, ids);
    return out;
}

}  // namespace ferris::ops
