// embedding front-ends: table (V, C) any float dtype, ids (N) i32 in [0, V); and the encoders'
// input, layer_norm of a sum of such lookups, in one op.
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

namespace {

void check_lookup(const char* op, const Tensor& table, const Tensor& ids) {
    check_dim(op, "table", table, 2);
    check_float(op, "table", table);
    check_dim(op, "ids", ids, 1);
    check_dtype(op, "ids", ids, DType::I32);
    check_contiguous(op, "table", table);
    check_contiguous(op, "ids", ids);
    check_same_device(op, table, ids);
    if (ids.device().is_cpu()) {
        const int32_t* p = ids.data<int32_t>();
        for (int64_t i = 0; i < ids.numel(); ++i)
            if (p[i] < 0 || p[i] >= table.size(0))
                fail(ErrorCode::InvalidArgument, "[", op, "] token id ", p[i],
                     " outside the vocabulary (", table.size(0), ")");
    }
}

}  // namespace

Tensor embedding(const Tensor& table, const Tensor& ids) {
    check_lookup("embedding", table, ids);
    Backend& be = backend_checked(OpKind::Embedding, table);
    Tensor out = be.empty({ids.size(0), table.size(1)}, DType::F32);
    be.embedding(out, table, ids);
    return out;
}

Tensor embedding_layer_norm(const std::vector<Tensor>& tables, const std::vector<Tensor>& ids,
                            const Tensor& weight, const Tensor& bias, float eps, DType out_dtype) {
    const char* op = "embedding_layer_norm";
    if (tables.empty() || tables.size() != ids.size())
        fail(ErrorCode::InvalidArgument, "[", op, "] ", tables.size(), " tables and ", ids.size(),
             " id lists (expected the same number, at least one)");
    for (size_t i = 0; i < tables.size(); ++i) {
        check_lookup(op, tables[i], ids[i]);
        if (tables[i].size(1) != tables[0].size(1) || ids[i].size(0) != ids[0].size(0))
            fail(ErrorCode::ShapeMismatch, "[", op, "] table ", i, " ",
                 shape_str(tables[i].shape()), " with ", ids[i].size(0), " ids, table 0 ",
                 shape_str(tables[0].shape()), " with ", ids[0].size(0));
        check_same_device(op, tables[0], tables[i]);
    }
    const int64_t c = tables[0].size(1);
    for (const Tensor* t : {&weight, &bias}) {
        check_dim(op, t == &weight ? "weight" : "bias", *t, 1);
        check_float(op, t == &weight ? "weight" : "bias", *t);
        if (t->size(0) != c)
            fail(ErrorCode::ShapeMismatch, "[", op, "] ", t == &weight ? "weight" : "bias",
                 " shape ", shape_str(t->shape()), " != (", c, ")");
        check_same_device(op, tables[0], *t);
    }
    if (!is_float(out_dtype))
        fail(ErrorCode::InvalidArgument, "[", op, "] output dtype ", dtype_name(out_dtype),
             " is not a float type");
    Backend& be = backend_checked(OpKind::Embedding, tables[0]);
    Tensor out = be.empty({ids[0].size(0), c}, out_dtype);
    be.embedding_layer_norm(out, tables, ids, weight, bias, eps);
    return out;
}

}  // namespace ferris::ops
