// Tensor views and host-side copies. Device copies go through the backend (src/backends).
#include "ferris/tensor.h"

#include <malloc.h>

#include <cstdlib>
#include <sstream>

namespace ferris {

std::string shape_str(const Shape& shape) {
    std::ostringstream os;
    os << "(";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << ")";
    return os.str();
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t s = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = s;
        s *= shape[i];
    }
    return strides;
}

std::shared_ptr<Storage> Storage::allocate_host(size_t bytes) {
    // Activations are allocated and freed op by op. Keep freed blocks in the heap instead of
    // returning them to the kernel (mmap/munmap per op costs page faults on every call).
    static const bool tuned = [] {
        mallopt(M_MMAP_THRESHOLD, 512 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        return true;
    }();
    (void)tuned;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!p) fail(ErrorCode::OutOfMemory, "host allocation of ", bytes, " bytes failed");
    return std::make_shared<Storage>(p, bytes, Device::cpu(), [](void* q) { std::free(q); });
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, Shape strides,
               DType dtype)
    : storage_(std::move(storage)),
      byte_offset_(byte_offset),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    for (int64_t d : shape)
        if (d < 0)
            fail(ErrorCode::InvalidArgument, "negative dimension in shape ", shape_str(shape));
    if (!device.is_cpu())
        fail(ErrorCode::Unsupported, "Tensor::empty on ", device.str(),
             ": allocate device tensors through their backend");
    size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    return Tensor(Storage::allocate_host(bytes), 0, shape, contiguous_strides(shape), dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    std::memset(t.raw(), 0, t.nbytes());
    return t;
}

Tensor Tensor::from_floats(const Shape& shape, const std::vector<float>& values, DType dtype) {
    if (static_cast<int64_t>(values.size()) != shape_numel(shape))
        fail(ErrorCode::ShapeMismatch, "from_floats: ", values.size(), " values for shape ",
             shape_str(shape));
    Tensor t = empty(shape, dtype);
    convert_floats(values.data(), DType::F32, t.raw(), dtype, values.size());
    return t;
}

Tensor Tensor::from_ints(const Shape& shape, const std::vector<int32_t>& values) {
    if (static_cast<int64_t>(values.size()) != shape_numel(shape))
        fail(ErrorCode::ShapeMismatch, "from_ints: ", values.size(), " values for shape ",
             shape_str(shape));
    Tensor t = empty(shape, DType::I32);
    std::memcpy(t.raw(), values.data(), values.size() * 4);
    return t;
}

int64_t Tensor::size(int64_t d) const {
    if (d < 0) d += dim();
    FERRIS_ASSERT(d >= 0 && d < dim(), "dimension out of range");
    return shape_[d];
}

bool Tensor::is_contiguous() const {
    int64_t s = 1;
    for (size_t i = shape_.size(); i-- > 0;) {
        if (shape_[i] != 1 && strides_[i] != s) return false;
        s *= shape_[i];
    }
    return true;
}

Tensor Tensor::reshape(const Shape& shape) const {
    Shape resolved = shape;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < resolved.size(); ++i) {
        if (resolved[i] == -1) {
            infer = static_cast<int64_t>(i);
        } else {
            known *= resolved[i];
        }
    }
    if (infer >= 0 && known > 0) resolved[infer] = numel() / known;
    if (shape_numel(resolved) != numel())
        fail(ErrorCode::ShapeMismatch, "reshape ", shape_str(shape_), " -> ", shape_str(shape));
    if (!is_contiguous())
        fail(ErrorCode::InvalidArgument, "reshape of a non-contiguous tensor ", shape_str(shape_));
    return Tensor(storage_, byte_offset_, resolved, contiguous_strides(resolved), dtype_);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
    if (d < 0) d += dim();
    if (d < 0 || d >= dim() || start < 0 || length < 0 || start + length > shape_[d])
        fail(ErrorCode::InvalidArgument, "narrow(dim ", d, ", ", start, ", ", length, ") of ",
             shape_str(shape_));
    Shape s = shape_;
    s[d] = length;
    size_t off = byte_offset_ + static_cast<size_t>(start * strides_[d]) * dtype_size(dtype_);
    return Tensor(storage_, off, s, strides_, dtype_);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
    Tensor n = narrow(d, index, 1);
    if (d < 0) d += dim();
    n.shape_.erase(n.shape_.begin() + d);
    n.strides_.erase(n.strides_.begin() + d);
    return n;
}

namespace {
// Calls fn(linear_index, element_offset) for every element in row-major order.
template <typename Fn>
void for_each_offset(const Shape& shape, const Shape& strides, Fn&& fn) {
    int64_t n = shape_numel(shape);
    std::vector<int64_t> idx(shape.size(), 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
        fn(i, off);
        for (size_t d = shape.size(); d-- > 0;) {
            if (++idx[d] < shape[d]) {
                off += strides[d];
                break;
            }
            off -= strides[d] * (shape[d] - 1);
            idx[d] = 0;
        }
    }
}
}  // namespace

Tensor Tensor::contiguous() const {
    if (!device().is_cpu()) fail(ErrorCode::Unsupported, "Tensor::contiguous on ", device().str());
    Tensor out = empty(shape_, dtype_);
    size_t es = dtype_size(dtype_);
    const char* src = static_cast<const char*>(raw());
    char* dst = static_cast<char*>(out.raw());
    if (is_contiguous()) {
        std::memcpy(dst, src, nbytes());
        return out;
    }
    for_each_offset(shape_, strides_, [&](int64_t i, int64_t off) {
        std::memcpy(dst + i * es, src + off * static_cast<int64_t>(es), es);
    });
    return out;
}

Tensor Tensor::to_dtype(DType dtype) const {
    if (dtype == dtype_) return contiguous();
    if (!is_float(dtype_) || !is_float(dtype))
        fail(ErrorCode::DTypeMismatch, "to_dtype ", dtype_name(dtype_), " -> ", dtype_name(dtype));
    Tensor src = contiguous();
    Tensor out = empty(shape_, dtype);
    convert_floats(src.raw(), dtype_, out.raw(), dtype, static_cast<size_t>(numel()));
    return out;
}

std::vector<float> Tensor::to_floats() const {
    Tensor src = contiguous();
    std::vector<float> v(static_cast<size_t>(numel()));
    if (is_float(dtype_)) {
        convert_floats(src.raw(), dtype_, v.data(), DType::F32, v.size());
    } else if (dtype_ == DType::I32) {
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(src.data<int32_t>()[i]);
    } else {
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(src.data<int64_t>()[i]);
    }
    return v;
}

std::string Tensor::describe() const {
    return std::string(dtype_name(dtype_)) + " " + shape_str(shape_) + " " + device().str();
}

}  // namespace ferris
