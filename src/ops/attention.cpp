// attention front-ends: grouped-query attention, causal over a (possibly cached) key/value range,
// or bidirectional with right padding and a relative-position bias (the encoders).
#include <algorithm>

#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                 float scale) {
    const char* op = "attention";
    check_dim(op, "q", q, 4);
    check_dim(op, "k", k, 4);
    check_dim(op, "v", v, 4);
    check_float(op, "q", q);  // f32, or a GPU model's half-precision activations
    check_float(op, "k", k);
    check_float(op, "v", v);
    check_same_shape(op, k, v);
    if (k.size(0) != q.size(0) || k.size(3) != q.size(3))
        fail(ErrorCode::ShapeMismatch, "[", op, "] q ", shape_str(q.shape()), " vs k ",
             shape_str(k.shape()));
    if (q.size(2) % k.size(2) != 0)
        fail(ErrorCode::ShapeMismatch, "[", op, "] ", q.size(2),
             " query heads are not a multiple of ", k.size(2), " key/value heads");
    for (const Tensor* t : {&q, &k, &v})  // q, k and v may be strided views of one q/k/v product
        if (t->strides()[3] != 1 || t->strides()[2] != t->size(3))
            fail(ErrorCode::InvalidArgument, "[", op, "] q/k/v heads must be contiguous");
    const int64_t b_n = q.size(0), t_n = q.size(1), s_n = k.size(1);
    if (mask.q_offset < 0 || (mask.causal && mask.q_offset + t_n > s_n))
        fail(ErrorCode::ShapeMismatch, "[", op, "] queries at ", mask.q_offset, "..",
             mask.q_offset + t_n, " past the ", s_n, " keys");
    check_same_device(op, q, k);
    if (mask.key_lengths.defined()) {
        const Tensor& kl = mask.key_lengths;
        check_dtype(op, "key_lengths", kl, DType::I32);
        if (kl.dim() != 1 || kl.size(0) != b_n || !kl.is_contiguous())
            fail(ErrorCode::ShapeMismatch, "[", op, "] key_lengths ", shape_str(kl.shape()),
                 " != (", b_n, ")");
        check_same_device(op, q, kl);
        // Lengths are checked where they are readable (host); a device copy is trusted.
        if (kl.device().is_cpu())
            for (int64_t b = 0; b < b_n; ++b)
                if (kl.data<int32_t>()[b] < 0 || kl.data<int32_t>()[b] > s_n)
                    fail(ErrorCode::InvalidArgument, "[", op, "] key_lengths[", b,
                         "] = ", kl.data<int32_t>()[b], " outside 0..", s_n);
    }
    // The longest distance a query can see: the longest sequence (segments) or the key range;
    // when the segments live on a device, the caller's longest_segment (0: unknown, not checked).
    int64_t longest = std::max(t_n, s_n);
    if (mask.segments.defined()) {
        const Tensor& sg = mask.segments;
        check_dtype(op, "segments", sg, DType::I32);
        check_same_device(op, q, sg);
        if (sg.dim() != 1 || sg.size(0) < 2 || !sg.is_contiguous())
            fail(ErrorCode::ShapeMismatch, "[", op, "] segments ", shape_str(sg.shape()),
                 " must be (NS + 1) offsets with NS >= 1");
        if (b_n != 1 || t_n != s_n || mask.q_offset != 0 || mask.key_lengths.defined())
            fail(ErrorCode::InvalidArgument, "[", op,
                 "] packed segments need B == 1, T == S, q_offset 0 and no key_lengths");
        longest = mask.longest_segment;
        if (mask.longest_segment < 0 || mask.longest_segment > t_n)
            fail(ErrorCode::InvalidArgument, "[", op, "] longest_segment ", mask.longest_segment,
                 " outside 0..", t_n);
        // Offsets readable here: from 0 to T, every segment non-empty, none past longest_segment.
        auto check_offsets = [&](const Tensor& offsets, const char* what) {
            const int32_t* g = offsets.data<int32_t>();
            const int64_t n = offsets.size(0);
            if (g[0] != 0 || g[n - 1] != t_n)
                fail(ErrorCode::InvalidArgument, "[", op, "] ", what, " run ", g[0], "..", g[n - 1],
                     ", expected 0..", t_n);
            int64_t most = 0;
            for (int64_t i = 1; i < n; ++i) {
                if (g[i] <= g[i - 1])
                    fail(ErrorCode::InvalidArgument, "[", op, "] ", what,
                         " must increase strictly (segment ", i - 1, " is empty)");
                most = std::max<int64_t>(most, g[i] - g[i - 1]);
            }
            if (mask.longest_segment > 0 && most > mask.longest_segment)
                fail(ErrorCode::InvalidArgument, "[", op, "] a segment of ", most,
                     " rows, longer than longest_segment ", mask.longest_segment);
            return most;
        };
        if (sg.device().is_cpu()) longest = check_offsets(sg, "segments");
        if (mask.host_segments.defined()) {
            const Tensor& hs = mask.host_segments;
            check_dtype(op, "host_segments", hs, DType::I32);
            if (!hs.device().is_cpu() || hs.dim() != 1 || hs.size(0) != sg.size(0) ||
                !hs.is_contiguous())
                fail(ErrorCode::ShapeMismatch, "[", op, "] host_segments ", shape_str(hs.shape()),
                     " on ", hs.device().str(),
                     " must be the segments' (NS + 1) offsets on the CPU");
            check_offsets(hs, "host_segments");
        }
    } else if (mask.host_segments.defined()) {
        fail(ErrorCode::InvalidArgument, "[", op, "] host_segments without segments");
    }
    if (mask.relative_bias.defined()) {
        const Tensor& rb = mask.relative_bias;
        check_dtype(op, "relative_bias", rb, DType::F32);
        check_contiguous(op, "relative_bias", rb);
        if (rb.dim() != 2 || rb.size(0) != q.size(2) || rb.size(1) % 2 == 0 ||
            rb.size(1) < 2 * longest - 1)
            fail(ErrorCode::ShapeMismatch, "[", op, "] relative_bias ", shape_str(rb.shape()),
                 " must be (", q.size(2), ", 2W - 1) with W >= ", longest);
        if (mask.q_offset != 0)
            fail(ErrorCode::InvalidArgument, "[", op, "] relative_bias needs q_offset 0");
        check_same_device(op, q, rb);
    }
    Backend& be = backend_checked(OpKind::Attention, k);
    Tensor out = be.empty(q.shape(), q.dtype());
    be.attention(out, q, k, v, mask, scale);
    return out;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    int64_t q_offset, float scale) {
    AttentionMask mask;
    mask.q_offset = q_offset;
    return attention(q, k, v, mask, scale);
}

}  // namespace ferris::ops
