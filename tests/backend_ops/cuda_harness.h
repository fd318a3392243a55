// What the CUDA op tests share: the card, moving tensors to and from it, and a fixture that skips
// itself when no CUDA device is present (label `cuda`).
#pragma once

#include <string>

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

}  // namespace ferris::testing
