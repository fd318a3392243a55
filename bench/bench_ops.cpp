// bench_ops: time single ops on a device, synchronized, to find where a model's time goes without
// a profiler. Shapes are the encoders' at 100 docs (7,490 tokens) unless --rows says otherwise.
// Usage: bench_ops [--device cuda] [--rows N] [--hidden C] [--dtype bf16|f16] [--repeat R]
//                  [--threads T] (CPU threads; default every core)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/registry.h"
#include "ferris/rng.h"
#include "ferris/threads.h"
#include "ops/ops.h"

using namespace ferris;

namespace {

Tensor random_on(const Shape& shape, DType dtype, Device device, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = static_cast<float>(rng.uniform_double() * 2.0 - 1.0) * 0.1f;
    Tensor host = Tensor::from_floats(shape, v);
    Tensor out = ops::empty(shape, dtype, device);
    ops::copy_(out, host);
    return out;
}

// Median microseconds of `repeat` synchronized runs of `body`, after two warm-up runs.
double time_us(Device device, int repeat, const std::function<void()>& body) {
    Backend& be = backend_for(device);
    for (int i = 0; i < 2; ++i) body();
    be.synchronize();
    std::vector<double> t;
    for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < 10; ++k) body();
        be.synchronize();
        t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                        .count() /
                    10.0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::string device_arg = "cuda", dtype_arg = "bf16";
    int64_t rows = 7490, hidden = 384;
    int repeat = 9;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--device")
            device_arg = next();
        else if (a == "--rows")
            rows = std::stoll(next());
        else if (a == "--hidden")
            hidden = std::stoll(next());
        else if (a == "--dtype")
            dtype_arg = next();
        else if (a == "--repeat")
            repeat = std::stoi(next());
        else if (a == "--threads")
            set_num_threads(std::stoi(next()));
        else {
            std::fprintf(stderr,
                         "usage: bench_ops [--device D] [--rows N] [--hidden C] [--dtype bf16|f16] "
                         "[--repeat R] [--threads T]\n");
            return 2;
        }
    }
    try {
        const Device device = resolve_device(parse_device(device_arg), nullptr);
        const DType wt = parse_dtype(dtype_arg);
        if (device.is_cpu())
            std::printf("OpenBLAS core: %s%s\n", cpu::blas_core().c_str(),
                        cpu::blas_core_named_by_ferris() ? " (named by Ferris)" : "");
        const int64_t C = hidden, I = 4 * hidden;
        const Tensor x = random_on({rows, C}, DType::F32, device, 1);
        const Tensor xi = random_on({rows, I}, DType::F32, device, 2);
        const Tensor w_qkv = random_on({3 * C, C}, wt, device, 3);
        const Tensor w_up = random_on({I, C}, wt, device, 4);
        const Tensor w_down = random_on({C, I}, wt, device, 5);
        const Tensor b_qkv = random_on({3 * C}, DType::F32, device, 6);
        const Tensor g = random_on({C}, DType::F32, device, 7);
        auto row = [&](const char* name, double us, double flops, double bytes) {
            std::printf("%-34s %9.1f us  %7.1f TFLOP/s  %7.1f GB/s\n", name, us, flops / us * 1e-6,
                        bytes / us * 1e-3);
        };
        const double n = static_cast<double>(rows);
        row("linear qkv (N,C)->(N,3C)",
            time_us(device, repeat, [&] { ops::linear(x, w_qkv, b_qkv); }), 2 * n * C * 3 * C,
            4 * n * (C + 3 * C));
        row("linear up (N,C)->(N,4C)", time_us(device, repeat, [&] { ops::linear(x, w_up); }),
            2 * n * C * I, 4 * n * (C + I));
        row("linear down (N,4C)->(N,C)", time_us(device, repeat, [&] { ops::linear(xi, w_down); }),
            2 * n * C * I, 4 * n * (C + I));
        row("gelu (N,4C)", time_us(device, repeat, [&] { ops::gelu(xi); }), 0, 8 * n * I);
        row("layer_norm (N,C)", time_us(device, repeat, [&] { ops::layer_norm(x, g, g, 1e-12f); }),
            0, 8 * n * C);
        row("add (N,C)", time_us(device, repeat, [&] { ops::add(x, x, 1.0f); }), 0, 12 * n * C);
        row("copy f32 -> dtype (N,4C)",
            time_us(device, repeat,
                    [&] {
                        Tensor h = ops::empty({rows, I}, wt, device);
                        ops::copy_(h, xi);
                    }),
            0, 6 * n * I);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
