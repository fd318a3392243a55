// The AMX bf16 GEMM (backends/cpu/gemm_amx.h) against a double reference on edge shapes: its
// loops and layouts through the scalar emulation of the tile unit on every AVX512-BF16 machine,
// and on the tile unit itself where there is one. The weights end at an unreadable page, so a
// tile that reads past them fails the test instead of passing by luck.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>

#include "backends/cpu/gemm_amx.h"
#include "backends/cpu/gemm_bf16.h"
#include "harness.h"

namespace ferris::testing {
namespace {

// A copy of `values` ending exactly where an inaccessible page begins.
template <class T>
class BeforeGuardPage {
public:
    explicit BeforeGuardPage(const std::vector<T>& values) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        const size_t bytes = values.size() * sizeof(T);
        mapped_ = (bytes + page - 1) / page * page + page;
        base_ = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT_NE(base_, MAP_FAILED);
        char* guard = static_cast<char*>(base_) + mapped_ - page;
        EXPECT_EQ(mprotect(guard, page, PROT_NONE), 0);
        data_ = reinterpret_cast<T*>(guard - bytes);
        std::memcpy(data_, values.data(), bytes);
    }
    ~BeforeGuardPage() { munmap(base_, mapped_); }
    const T* data() const { return data_; }

private:
    void* base_ = nullptr;
    size_t mapped_ = 0;
    T* data_ = nullptr;
};

using GemmFn = void (*)(float*, const float*, const uint16_t*, int64_t, int64_t, int64_t);

// Runs fn on a random (rows, in, outs) product and returns its relative error against the
// double reference of the bf16-rounded activations; unwritten outputs (NaN) or writes past the
// end fail.
double product_error(GemmFn fn, int64_t rows, int64_t in, int64_t outs) {
    Rng rng(rows * 7919 + in * 131 + outs);
    std::vector<float> x(static_cast<size_t>(rows * in));
    std::vector<uint16_t> w(static_cast<size_t>(outs * in));
    for (float& v : x) v = rng.uniform(-1, 1);
    for (uint16_t& v : w) v = f32_to_bf16(rng.uniform(-1, 1));
    BeforeGuardPage<uint16_t> weights(w);
    BeforeGuardPage<float> activations(x);
    std::vector<float> out(static_cast<size_t>(rows * outs + kGuardElems), NAN);
    const float guard = 12345.0f;
    std::fill(out.begin() + rows * outs, out.end(), guard);
    fn(out.data(), activations.data(), weights.data(), rows, in, outs);
    for (size_t i = static_cast<size_t>(rows * outs); i < out.size(); ++i)
        EXPECT_EQ(out[i], guard) << "written past the end";
    std::vector<double> ref(static_cast<size_t>(rows * outs));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < outs; ++o) {
            double s = 0;
            for (int64_t i = 0; i < in; ++i)
                s += static_cast<double>(bf16_to_f32(f32_to_bf16(x[r * in + i]))) *
                     bf16_to_f32(w[o * in + i]);
            ref[r * outs + o] = s;
        }
    out.resize(static_cast<size_t>(rows * outs));
    return relative_error(out, ref);
}

TEST(CpuGemmAmx, EmulatedTilesMatchReferenceOnEdgeShapes) {
    if (!cpu::have_bf16_gemm()) GTEST_SKIP() << "no AVX512-BF16 in this build";
    // Rows around the 16-token tiles and 32-token blocks, k around a 32-value step (tails of
    // 1 and 31), outputs around the 32-column panels (the last one overlapping).
    for (int64_t rows : {1, 16, 17, 33, 70})
        for (int64_t in : {1, 31, 32, 33, 100})
            for (int64_t outs : {32, 33, 63, 96, 100})
                EXPECT_LT(product_error(cpu::gemm_bf16_amx_emulated, rows, in, outs), 1e-5)
                    << rows << "x" << in << " -> " << outs;
}

TEST(CpuGemmAmx, TileUnitMatchesReference) {
    if (!cpu::amx_usable()) GTEST_SKIP() << "no AMX here (or FERRIS_CPU_NO_AMX is set)";
    for (int64_t rows : {1, 16, 17, 33, 70, 512})
        for (int64_t in : {1, 31, 32, 33, 100, 896})
            for (int64_t outs : {32, 33, 63, 96, 100, 896})
                EXPECT_LT(product_error(cpu::gemm_bf16_amx, rows, in, outs), 1e-5)
                    << rows << "x" << in << " -> " << outs;
    // Long k and many chunks: the down projection of a Qwen2.5-0.5B prefill.
    EXPECT_LT(product_error(cpu::gemm_bf16_amx, 300, 4864, 896), 1e-5);
}

}  // namespace
}  // namespace ferris::testing
