// copy_ / to_device / empty front-ends.
#include "ops/check.h"
#include "ops/ops.h"

namespace ferris::ops {

Tensor empty(const Shape& shape, DType dtype, Device device) {
    return backend_for(device).empty(shape, dtype);
}

void copy_(Tensor& dst, const Tensor& src) {
    check_defined("copy", "dst", dst);
    check_defined("copy", "src", src);
    check_same_shape("copy", dst, src);
    if ((is_float(dst.dtype()) != is_float(src.dtype())))
        fail(ErrorCode::DTypeMismatch, "[copy] ", dtype_name(src.dtype()), " -> ",
             dtype_name(dst.dtype()));
    // The non-CPU side (if any) owns the transfer.
    Device d = dst.device().is_cpu() ? src.device() : dst.device();
    backend_for(d).copy(dst, src);
}

Tensor to_device(const Tensor& src, Device device) {
    if (src.device() == device && src.is_contiguous()) return src;
    Tensor dst = empty(src.shape(), src.dtype(), device);
    copy_(dst, src);
    return dst;
}

std::vector<float> to_host_floats(const Tensor& src) {
    return src.device().is_cpu() ? src.to_floats() : to_device(src, Device::cpu()).to_floats();
}

}  // namespace ferris::ops
