// Tensor: a typed, shaped view over shared storage (owned heap memory, a memory-mapped file or
// device memory). PyTorch conventions: row-major, last dimension contiguous, strides in elements.
// Views (reshape, narrow, select) share storage; nothing is copied unless a function says so.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "ferris/device.h"
#include "ferris/dtype.h"
#include "ferris/error.h"

namespace ferris {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "(2, 3)"
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

// A block of bytes plus whatever keeps it alive (a free(), an munmap, a device free).
class Storage {
public:
    Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release)
        : data_(data), bytes_(bytes), device_(device), release_(std::move(release)) {}
    ~Storage() {
        if (release_) release_(data_);
    }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    size_t bytes() const { return bytes_; }
    Device device() const { return device_; }

    // 64-byte aligned host memory, uninitialized.
    static std::shared_ptr<Storage> allocate_host(size_t bytes);

private:
    void* data_;
    size_t bytes_;
    Device device_;
    std::function<void(void*)> release_;
};

class Tensor {
public:
    Tensor() = default;
    Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, Shape strides,
           DType dtype);

    // New contiguous tensors. `empty` leaves memory uninitialized.
    static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
    static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
    // Host tensors from values (converted to dtype).
    static Tensor from_floats(const Shape& shape, const std::vector<float>& values,
                              DType dtype = DType::F32);
    static Tensor from_ints(const Shape& shape, const std::vector<int32_t>& values);

    bool defined() const { return storage_ != nullptr; }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }
    int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
    int64_t size(int64_t d) const;  // negative d counts from the end
    int64_t numel() const { return shape_numel(shape_); }
    DType dtype() const { return dtype_; }
    Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;
    const std::shared_ptr<Storage>& storage() const { return storage_; }
    size_t byte_offset() const { return byte_offset_; }  // where the view starts in storage()

    void* raw() const { return static_cast<char*>(storage_->data()) + byte_offset_; }
    template <typename T>
    T* data() const {
        return static_cast<T*>(raw());
    }

    // Views. reshape needs a contiguous tensor; narrow/select keep strides.
    Tensor reshape(const Shape& shape) const;
    Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
    Tensor select(int64_t dim, int64_t index) const;  // drops `dim`

    // Copies (host only here; backends copy across devices).
    Tensor contiguous() const;
    Tensor to_dtype(DType dtype) const;
    std::vector<float> to_floats() const;  // any float dtype, any strides, host
    std::string describe() const;          // "bf16 (2, 3) cpu"

private:
    std::shared_ptr<Storage> storage_;
    size_t byte_offset_ = 0;
    Shape shape_;
    Shape strides_;
    DType dtype_ = DType::F32;
};

}  // namespace ferris
