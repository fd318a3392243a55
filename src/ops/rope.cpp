// rope_ front-end: x (N, H, HS) f32 contiguous with even HS; positions (N) i32.
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/product_checks.h"

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

// Decode's q/k/v tail: n rows of `width` = (heads + 2 NKV) HS values going to q (returned) and to
// the caches (1, S, NKV, HS) of one float dtype, rows contiguous, at positions (n) i32.
void check_qkv_tail(const char* op, int64_t n, int64_t width, int64_t heads, const Tensor& k_cache,
                    const Tensor& v_cache, const Tensor& positions) {
    check_dim(op, "k_cache", k_cache, 4);
    check_dim(op, "v_cache", v_cache, 4);
    check_float(op, "k_cache", k_cache);
    check_float(op, "v_cache", v_cache);
    check_dim(op, "positions", positions, 1);
    check_dtype(op, "positions", positions, DType::I32);
    const int64_t kv_heads = k_cache.size(2), hs = k_cache.size(3);
    if (k_cache.shape() != v_cache.shape() || k_cache.size(0) != 1 ||
        k_cache.dtype() != v_cache.dtype())
        fail(ErrorCode::ShapeMismatch, "[", op, "] caches ", shape_str(k_cache.shape()), " and ",
             shape_str(v_cache.shape()), ": expected two (1, S, NKV, HS) of one dtype");
    if (k_cache.strides()[3] != 1 || k_cache.strides()[2] != hs || v_cache.strides()[3] != 1 ||
        v_cache.strides()[2] != hs)
        fail(ErrorCode::InvalidArgument, "[", op, "] cache rows must be contiguous");
    if (width != (heads + 2 * kv_heads) * hs || hs % 2 != 0 || heads <= 0)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", width, " q/k/v values a row are not ", heads,
             " + 2 x ", kv_heads, " heads of an even size ", hs);
    if (positions.size(0) != n)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", positions.size(0), " positions for ", n,
             " rows");
    check_same_device(op, k_cache, positions);
    check_same_device(op, k_cache, v_cache);
}

Tensor rope_qkv(const Tensor& qkv, int64_t heads, Tensor& k_cache, Tensor& v_cache,
                const Tensor& positions, float theta) {
    const char* op = "rope_qkv";
    check_dim(op, "qkv", qkv, 2);
    check_dtype(op, "qkv", qkv, DType::F32);
    check_contiguous(op, "qkv", qkv);
    check_qkv_tail(op, qkv.size(0), qkv.size(1), heads, k_cache, v_cache, positions);
    check_same_device(op, qkv, k_cache);
    Backend& be = backend_checked(OpKind::RopeQkv, qkv);
    Tensor q = be.empty({qkv.size(0), heads, k_cache.size(3)}, DType::F32);
    be.rope_qkv(q, k_cache, v_cache, qkv, positions, theta);
    return q;
}

Tensor rms_norm_qkv_rope(const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& weight, const Tensor& bias, int64_t heads, Tensor& k_cache,
                         Tensor& v_cache, const Tensor& positions, float theta) {
    const char* op = "rms_norm_qkv_rope";
    check_dim(op, "x", x, 2);
    check_product(op, x, weight, bias);
    check_norm_weight(op, x, norm_weight);
    check_qkv_tail(op, x.size(0), weight.size(0), heads, k_cache, v_cache, positions);
    check_same_device(op, x, k_cache);
    Backend& be = backend_checked(OpKind::RmsNormQkvRope, weight);
    Tensor q = be.empty({x.size(0), heads, k_cache.size(3)}, DType::F32);
    be.rms_norm_qkv_rope(q, k_cache, v_cache, x, norm_weight, eps, weight, bias, positions, theta);
    return q;
}

}  // namespace ferris::ops
