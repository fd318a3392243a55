// What the CUDA op tests share: the card, moving tensors to and from it, a fixture that skips
// itself when no CUDA device is present (label `cuda`), and NaN-poisoned outputs between guard
// words.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "harness.h"
#include "ops/ops.h"

namespace ferris::testing {

inline Backend& gpu() { return backend_for(Device::cuda(0)); }
inline Tensor up(const Tensor& t) { return ops::to_device(t, Device::cuda(0)); }
inline Tensor down(const Tensor& t) { return ops::to_device(t, Device::cpu()); }

class CudaTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string reason;
        if (cuda_device_count(&reason) == 0) GTEST_SKIP() << "no CUDA device: " << reason;
    }
};

constexpr int32_t kGuardWord = static_cast<int32_t>(0xA5A5A5A5u);
constexpr int32_t kNanWord = 0x7fc00000;

// A device output (f32 unless said) inside a buffer of guard words, itself poisoned with NaN.
struct DeviceGuarded {
    Tensor buffer;  // i32 words on the device
    Tensor view;
    int64_t words = 0;

    explicit DeviceGuarded(const Shape& shape, DType dtype = DType::F32) {
        words = (shape_numel(shape) * static_cast<int64_t>(dtype_size(dtype)) + 3) / 4;
        std::vector<int32_t> host(static_cast<size_t>(2 * kGuardElems + words), kGuardWord);
        std::fill_n(host.begin() + kGuardElems, words, kNanWord);
        buffer = up(Tensor::from_ints({static_cast<int64_t>(host.size())}, host));
        view = Tensor(buffer.storage(), kGuardElems * 4, shape, contiguous_strides(shape), dtype);
    }
    bool guards_intact() const {
        Tensor h = down(buffer);
        const int32_t* w = h.data<int32_t>();
        for (int64_t i = 0; i < kGuardElems; ++i)
            if (w[i] != kGuardWord || w[kGuardElems + words + i] != kGuardWord) return false;
        return true;
    }
    std::vector<float> values() const { return down(view).to_floats(); }
};

// max |gpu - cpu| / max |cpu|; any non-finite GPU value fails (unwritten outputs stay NaN).
inline double rel(const std::vector<float>& got, const std::vector<float>& want) {
    return relative_error(got, std::vector<double>(want.begin(), want.end()));
}

}  // namespace ferris::testing
