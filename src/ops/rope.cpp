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

Tensor rope_qkv(const Tensor& qkv, int64_t heads, Tensor& k_cache, Tensor& v_cache,
                const Tensor& positions, float theta) {
    const char* op = "rope_qkv";
    check_dim(op, "qkv", qkv, 2);
    check_dtype(op, "qkv", qkv, DType::F32);
    check_contiguous(op, "qkv", qkv);
    check_dim(op, "k_cache", k_cache, 4);
    check_dim(op, "v_cache", v_cache, 4);
    check_float(op, "k_cache", k_cache);
    check_float(op, "v_cache", v_cache);
    check_dim(op, "positions", positions, 1);
    check_dtype(op, "positions", positions, DType::I32);
    const int64_t n = qkv.size(0), kv_heads = k_cache.size(2), hs = k_cache.size(3);
    if (k_cache.shape() != v_cache.shape() || k_cache.size(0) != 1 ||
        k_cache.dtype() != v_cache.dtype())
        fail(ErrorCode::ShapeMismatch, "[rope_qkv] caches ", shape_str(k_cache.shape()), " and ",
             shape_str(v_cache.shape()), ": expected two (1, S, NKV, HS) of one dtype");
    if (k_cache.strides()[3] != 1 || k_cache.strides()[2] != hs || v_cache.strides()[3] != 1 ||
        v_cache.strides()[2] != hs)
        fail(ErrorCode::InvalidArgument, "[rope_qkv] cache rows must be contiguous");
    if (qkv.size(1) != (heads + 2 * kv_heads) * hs || hs % 2 != 0 || heads <= 0)
        fail(ErrorCode::ShapeMismatch, "[rope_qkv] qkv ", shape_str(qkv.shape()), " is not ", heads,
             " + 2 x ", kv_heads, " heads of an even size ", hs);
    if (positions.size(0) != n)
        fail(ErrorCode::ShapeMismatch, "[rope_qkv] ", positions.size(0), " positions for ", n,
             " rows");
    check_same_device(op, qkv, positions);
    check_same_device(op, qkv, k_cache);
    check_same_device(op, qkv, v_cache);
    Backend& be = backend_checked(OpKind::RopeQkv, qkv);
    Tensor q = be.empty({n, heads, hs}, DType::F32);
    be.rope_qkv(q, k_cache, v_cache, qkv, positions, theta);
    return q;
}

}  // namespace ferris::ops
