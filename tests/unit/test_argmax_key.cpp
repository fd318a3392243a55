// The persistent decode kernel's argmax key (backends/cuda/argmax_key.h), checked on the CPU: the
// largest key of a row's (value, index) keys names the index the argmax op returns.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backends/cuda/argmax_key.h"
#include "gtest/gtest.h"

namespace ferris::testing {
namespace {

using cuda::argmax_key;
using cuda::argmax_row;

// The argmax op's rule (CpuBackend::argmax): the first index of the largest value.
int32_t first_max(const std::vector<float>& v) {
    int32_t best = 0;
    for (int32_t i = 1; i < static_cast<int32_t>(v.size()); ++i)
        if (v[static_cast<size_t>(i)] > v[static_cast<size_t>(best)]) best = i;
    return best;
}

int32_t by_keys(const std::vector<float>& v) {
    uint64_t best = 0;
    for (int32_t i = 0; i < static_cast<int32_t>(v.size()); ++i)
        best = std::max(best, argmax_key(v[static_cast<size_t>(i)], i));
    return argmax_row(best);
}

TEST(ArgmaxKey, LargestKeyIsTheFirstLargestValue) {
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> pool = {-inf,   -3.5f, -1.0f, -1e-30f, -0.0f,   0.0f, 1e-30f,
                                     1e-45f, 0.5f,  1.0f,  2.0f,    3.4e38f, inf};
    std::mt19937 gen(7);
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    for (int trial = 0; trial < 2000; ++trial) {
        std::vector<float> row(1 + static_cast<size_t>(trial % 37));
        for (float& x : row) x = pool[pick(gen)];  // many ties, both zeros
        EXPECT_EQ(by_keys(row), first_max(row)) << "trial " << trial;
    }
}

TEST(ArgmaxKey, OrdersValuesThenLowerRows) {
    EXPECT_GT(argmax_key(1.0f, 5), argmax_key(-1.0f, 0));
    EXPECT_GT(argmax_key(-1.0f, 5), argmax_key(-2.0f, 0));
    EXPECT_GT(argmax_key(2.0f, 9), argmax_key(2.0f, 10));
    EXPECT_EQ(argmax_key(-0.0f, 3), argmax_key(0.0f, 3));
    EXPECT_EQ(by_keys({-1.0f, -0.0f, 0.0f}), 1);  // -0 == +0: the first zero wins
    EXPECT_GT(argmax_key(-std::numeric_limits<float>::infinity(), 151935), 0u);
    EXPECT_EQ(argmax_row(argmax_key(0.25f, 151935)), 151935);
    EXPECT_EQ(argmax_row(0), 0);  // no value seen (all NaN): the argmax op's answer
}

}  // namespace
}  // namespace ferris::testing
