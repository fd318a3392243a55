// sample_ front-end: logits (1, V) f32, seen (V) i32, uniform (1) i64, all on one device; the
// options are checked here so the backends (and a recorded CUDA graph) assume valid values.
#include <cmath>

#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

namespace {

void check_options(const char* op, const SampleOptions& o) {
    if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
        fail(ErrorCode::InvalidArgument, "[", op, "] temperature must be >= 0, got ",
             o.temperature);
    if (o.top_k < 0)
        fail(ErrorCode::InvalidArgument, "[", op, "] top_k must be >= 0, got ", o.top_k);
    if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
        fail(ErrorCode::InvalidArgument, "[", op, "] top_p must be in (0, 1], got ", o.top_p);
    if (!(o.min_p >= 0.0f && o.min_p <= 1.0f))
        fail(ErrorCode::InvalidArgument, "[", op, "] min_p must be in [0, 1], got ", o.min_p);
    if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty))
        fail(ErrorCode::InvalidArgument, "[", op, "] repetition_penalty must be > 0, got ",
             o.repetition_penalty);
}

}  // namespace

void sample_(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
             const SampleOptions& options) {
    const char* op = "sample";
    check_dim(op, "logits", logits, 2);
    check_dtype(op, "logits", logits, DType::F32);
    check_contiguous(op, "logits", logits);
    check_dtype(op, "out", out, DType::I32);
    check_dtype(op, "seen", seen, DType::I32);
    check_contiguous(op, "seen", seen);
    check_dtype(op, "uniform", uniform, DType::I64);
    check_same_device(op, logits, out);
    check_same_device(op, logits, seen);
    check_same_device(op, logits, uniform);
    const int64_t v = logits.size(1);
    if (logits.size(0) != 1 || v < 1 || v > INT32_MAX)
        fail(ErrorCode::ShapeMismatch, "[", op, "] logits ", shape_str(logits.shape()),
             ", expected (1, V) with 1 <= V < 2^31");
    if (out.numel() != 1 || seen.dim() != 1 || seen.size(0) != v || uniform.numel() != 1)
        fail(ErrorCode::ShapeMismatch, "[", op, "] out ", shape_str(out.shape()), ", seen ",
             shape_str(seen.shape()), ", uniform ", shape_str(uniform.shape()), " for V = ", v,
             " (expected (1), (V), (1))");
    check_options(op, options);
    if (uniform.device().is_cpu()) {
        const int64_t m = uniform.data<int64_t>()[0];
        if (m < 0 || static_cast<double>(m) >= kSampleUniformScale)
            fail(ErrorCode::InvalidArgument, "[", op, "] uniform ", m, " outside [0, 2^53)");
    }
    backend_checked(OpKind::Sample, logits).sample(out, logits, seen, uniform, options);
}

}  // namespace ferris::ops
