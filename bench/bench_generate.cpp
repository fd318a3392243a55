// Prefill and decode speed of a Qwen2 model folder, the way llama-bench measures it: pp<N> is
// one forward pass over N prompt tokens, tg<M> is M single-token decode steps after a short
// prompt. Warm-up first, then the median of --repeat runs; peak RSS from getrusage.
// Usage: bench_generate --model DIR [--device cpu|cuda] [--prefill 512,2048] [--decode 128]
//                       [--repeat 5] [--threads N] [--kv-dtype f16] [--json]
//                       [--temperature 0] [--top-k 0] [--top-p 1] [--min-p 0] [--seed 0]
// Decode is greedy unless --temperature > 0 (then sampled on the device, as `generate` does).
// Every timed region ends with a result on the host (the device is synchronized).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda_api.h"
#include "ferris/rng.h"
#include "ferris/threads.h"
#include "models/qwen2/model.h"
#include "ops/ops.h"
#include "runtime/device_stepper.h"

using namespace ferris;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
    Rng rng(seed);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(vocab));
    return ids;
}

std::vector<int64_t> parse_list(const std::string& s) {
    std::vector<int64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir, kv = "f16", device = "cpu";
    std::vector<int64_t> prefill = {512, 2048};
    int64_t decode = 128, decode_context = 0;
    int repeat = 5, threads = 0;
    bool json = false;
    runtime::SamplingParams sampling;
    sampling.temperature = 0.0f;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--model")
            dir = next();
        else if (a == "--device")
            device = next();
        else if (a == "--prefill")
            prefill = parse_list(next());
        else if (a == "--decode")
            decode = std::stoll(next());
        else if (a == "--decode-context")
            decode_context = std::stoll(next());
        else if (a == "--repeat")
            repeat = std::stoi(next());
        else if (a == "--threads")
            threads = std::stoi(next());
        else if (a == "--kv-dtype")
            kv = next();
        else if (a == "--json")
            json = true;
        else if (a == "--temperature")
            sampling.temperature = std::stof(next());
        else if (a == "--top-k")
            sampling.top_k = std::stoi(next());
        else if (a == "--top-p")
            sampling.top_p = std::stof(next());
        else if (a == "--min-p")
            sampling.min_p = std::stof(next());
        else if (a == "--seed")
            sampling.seed = std::stoull(next());
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (dir.empty()) {
        std::fprintf(stderr,
                     "usage: bench_generate --model DIR [--prefill 512,2048] [--decode 128]\n");
        return 2;
    }
    try {
        set_num_threads(threads);
        const auto t_load = Clock::now();
        models::qwen2::LoadOptions lo;
        lo.device = resolve_device(parse_device(device), nullptr);
        auto model = models::qwen2::Qwen2Model::load(dir, lo);
        const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
        const DType kv_dtype = parse_dtype(kv);
        const int64_t V = model->config().vocab_size;
        nlohmann::json out = {{"model", dir},
                              {"device", lo.device.str()},
                              {"threads", num_threads()},
                              {"kv_dtype", kv},
                              {"load_s", load_s},
                              {"weights", dtype_name(model->weight_dtype())}};

        for (int64_t n : prefill) {
            std::vector<int32_t> ids = random_ids(n, V, 1);
            std::vector<double> times;
            for (int r = 0; r < repeat + 1; ++r) {  // first run is warm-up
                nn::KvCache cache = model->new_cache(n, kv_dtype);
                const auto t0 = Clock::now();
                std::vector<float> logits = ops::to_host_floats(model->forward_last(ids, cache));
                const double s = std::chrono::duration<double>(Clock::now() - t0).count();
                if (r > 0) times.push_back(s);
            }
            const double m = median(times);
            out["pp" + std::to_string(n)] = {{"tok_per_s", n / m}, {"median_s", m}};
            if (!json) std::printf("pp%-6lld %10.1f tok/s  (%.3f s)\n", (long long)n, n / m, m);
        }

        if (decode > 0) {
            // tg: a short prompt (or --decode-context tokens of context), then `decode` steps.
            const int64_t ctx = std::max<int64_t>(decode_context, 4);
            std::vector<int32_t> prompt = random_ids(ctx, V, 2);
            std::vector<double> times, ttft, replays;
            for (int r = 0; r < repeat + 1; ++r) {
                nn::KvCache cache = model->new_cache(ctx + decode + 1, kv_dtype);
                // Steps as `ferris generate` runs them: recorded once (untimed), replayed.
                runtime::DeviceStepper stepper(*model, cache, sampling, prompt);
                const auto t0 = Clock::now();
                stepper.prefill(prompt);
                const double first = std::chrono::duration<double>(Clock::now() - t0).count();
                stepper.record();
                const auto t1 = Clock::now();
                for (int64_t i = 0; i < decode; ++i) stepper.step();
                const double s = std::chrono::duration<double>(Clock::now() - t1).count();
                // The same step replayed back to back without reading the token: its GPU time
                // alone (what the per-token host round trip adds is the difference).
                constexpr int kReplays = 32;
                const auto t2 = Clock::now();
                stepper.replay_only(kReplays);
                const double g = std::chrono::duration<double>(Clock::now() - t2).count();
                if (r > 0) {
                    times.push_back(s);
                    ttft.push_back(first);
                    replays.push_back(g / kReplays);
                }
            }
            const double m = median(times);
            const std::string key = "tg" + std::to_string(decode) +
                                    (decode_context ? "@" + std::to_string(ctx) : std::string());
            out[key] = {{"tok_per_s", decode / m},
                        {"median_s", m},
                        {"prompt_tokens", ctx},
                        {"first_token_s", median(ttft)},
                        {"step_device_s", median(replays)}};
            out[key]["sampling"] = {{"temperature", sampling.temperature},
                                    {"top_k", sampling.top_k},
                                    {"top_p", sampling.top_p},
                                    {"min_p", sampling.min_p}};
            if (!json)
                std::printf(
                    "%-8s %10.1f tok/s  (%.3f s; first token after %.1f ms; a step alone "
                    "on the device %.0f us)\n",
                    key.c_str(), decode / m, m, median(ttft) * 1e3, median(replays) * 1e6);
        }
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        out["peak_rss_mb"] = ru.ru_maxrss / 1024.0;
        if (!lo.device.is_cpu()) {  // the whole run's peak: the largest context above included
            const cuda::DeviceMemory mem = cuda::device_memory(lo.device.index);
            out["gpu_peak_tensor_mb"] = static_cast<double>(mem.peak_tensor_bytes) / 1048576.0;
            out["gpu_used_mb"] = static_cast<double>(mem.device_used_bytes) / 1048576.0;
        }
        if (json) {
            std::printf("%s\n", out.dump().c_str());
        } else {
            std::printf("peak RSS %.0f MB, load %.3f s, %d threads\n", ru.ru_maxrss / 1024.0,
                        load_s, num_threads());
            if (out.contains("gpu_peak_tensor_mb"))
                std::printf(
                    "GPU memory: peak %.0f MB of Ferris tensors (weights, KV cache, "
                    "activations); %.0f MB used on the card (CUDA context included)\n",
                    out["gpu_peak_tensor_mb"].get<double>(), out["gpu_used_mb"].get<double>());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
