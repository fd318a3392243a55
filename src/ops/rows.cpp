// write_rows_ / argmax / record front-ends: what a decode step needs to run without the host
// (positions and the next token stay on the device; the step is recorded once and replayed);
// readback and lanes, what keeps the host and the device out of each other's way.
#include <utility>

#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

void write_rows_(Tensor& dst, const Tensor& src, const Tensor& rows) {
    const char* op = "write_rows";
    check_dtype(op, "src", src, DType::F32);
    check_contiguous(op, "src", src);
    check_float(op, "dst", dst);
    check_dtype(op, "rows", rows, DType::I32);
    check_same_device(op, dst, src);
    check_same_device(op, dst, rows);
    if (src.dim() < 2 || dst.dim() != src.dim() || dst.size(0) != src.size(0) || rows.dim() != 1 ||
        rows.size(0) != src.size(1))
        fail(ErrorCode::ShapeMismatch, "[", op, "] dst ", shape_str(dst.shape()), ", src ",
             shape_str(src.shape()), ", rows ", shape_str(rows.shape()));
    int64_t expect = 1;  // each dst row (dims 2..) must be contiguous
    for (int64_t d = dst.dim() - 1; d >= 2; --d) {
        if (dst.size(d) != src.size(d) || dst.strides()[d] != expect)
            fail(ErrorCode::InvalidArgument, "[", op,
                 "] dst rows must match src and be contiguous");
        expect *= dst.size(d);
    }
    if (rows.device().is_cpu())
        for (int64_t t = 0; t < rows.size(0); ++t)
            if (rows.data<int32_t>()[t] < 0 || rows.data<int32_t>()[t] >= dst.size(1))
                fail(ErrorCode::InvalidArgument, "[", op, "] row ", rows.data<int32_t>()[t],
                     " outside 0..", dst.size(1) - 1);
    backend_checked(OpKind::WriteRows, dst).write_rows(dst, src, rows);
}

void argmax_(Tensor& out, const Tensor& x) {
    const char* op = "argmax";
    check_dim(op, "x", x, 2);
    check_dtype(op, "x", x, DType::F32);
    check_contiguous(op, "x", x);
    check_dtype(op, "out", out, DType::I32);
    check_same_device(op, x, out);
    if (out.dim() != 1 || out.size(0) != x.size(0) || !out.is_contiguous())
        fail(ErrorCode::ShapeMismatch, "[", op, "] out ", shape_str(out.shape()), " != (",
             x.size(0), ")");
    backend_checked(OpKind::Argmax, x).argmax(out, x);
}

Tensor argmax(const Tensor& x) {
    Tensor out = empty({x.dim() == 2 ? x.size(0) : 0}, DType::I32, x.device());
    argmax_(out, x);
    return out;
}

std::unique_ptr<RecordedStep> record(Device device, const std::function<void()>& body) {
    return backend_for(device).record(body);
}

std::unique_ptr<Readback> readback(Device device, int slots, size_t bytes) {
    return backend_for(device).readback(slots, bytes);
}

Lanes::Lanes(Device device, int n) {
    if (n <= 1) return;
    Backend& backend = backend_for(device);
    count_ = backend.fork_lanes(n);
    backend_ = &backend;
}

Lanes::~Lanes() {
    try {
        join();
    } catch (const Error&) {  // a device error: the next op on the device reports it
    }
}

void Lanes::use(int lane) {
    if (backend_) backend_->use_lane(lane % count_);
}

void Lanes::join() {
    Backend* backend = std::exchange(backend_, nullptr);
    if (backend) backend->join_lanes();
}

}  // namespace ferris::ops
