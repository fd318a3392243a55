// Backend op harness: random inputs (never zeros), double-precision references, outputs written
// into views of larger buffers whose guard bytes must survive (catches out-of-bounds writes).
// Today it checks the CPU backend against the references; the CUDA backend plugs in the same way.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/registry.h"
#include "ferris/rng.h"
#include "ferris/tensor.h"

namespace ferris::testing {

constexpr uint8_t kGuardByte = 0xA5;
constexpr int64_t kGuardElems = 64;

// A contiguous tensor living in the middle of a buffer padded on both sides with guard bytes.
struct Guarded {
    Tensor buffer;  // the whole allocation (bytes as U8 via I32 count trick: we keep raw bytes)
    Tensor view;
    size_t pre_bytes = 0, view_bytes = 0;

    Guarded(const Shape& shape, DType dtype) {
        const size_t es = dtype_size(dtype);
        const int64_t n = shape_numel(shape);
        pre_bytes = static_cast<size_t>(kGuardElems) * es;
        view_bytes = static_cast<size_t>(n) * es;
        auto storage = Storage::allocate_host(pre_bytes * 2 + view_bytes);
        std::memset(storage->data(), kGuardByte, storage->bytes());
        view = Tensor(storage, pre_bytes, shape, contiguous_strides(shape), dtype);
        // Poison the output itself with NaN so unwritten elements are caught.
        if (dtype == DType::F32)
            for (int64_t i = 0; i < n; ++i) view.data<float>()[i] = NAN;
    }
    bool guards_intact() const {
        const uint8_t* p = static_cast<const uint8_t*>(view.storage()->data());
        const size_t total = view.storage()->bytes();
        for (size_t i = 0; i < pre_bytes; ++i)
            if (p[i] != kGuardByte) return false;
        for (size_t i = pre_bytes + view_bytes; i < total; ++i)
            if (p[i] != kGuardByte) return false;
        return true;
    }
};

inline Tensor random_tensor(const Shape& shape, DType dtype, Rng& rng, float lo = -1.0f,
                            float hi = 1.0f) {
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = rng.uniform(lo, hi);
    return Tensor::from_floats(shape, v, dtype);
}

// max |a - b| / max(max |b|, tiny), with NaN failing.
inline double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
    EXPECT_EQ(a.size(), b.size());
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
        den = std::max(den, std::abs(b[i]));
    }
    return num / den;
}

inline Backend& cpu() { return backend_for(Device::cpu()); }

// The sizes every op is tried at (around SIMD widths and block edges).
inline const std::vector<int64_t>& edge_sizes() {
    static const std::vector<int64_t> s = {1, 31, 32, 33, 255, 256, 257};
    return s;
}

}  // namespace ferris::testing
