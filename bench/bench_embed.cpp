// bench_embed: sentence-embedding throughput, text in → unit vectors out (tokenization, padding,
// forward, pooling, normalization, device sync all included), the way the Ferris assistant calls
// it. For each N in --sizes: a warm-up of at least 3 calls and 50 ms, as long as that stays
// under 2 s (one call at least), then --repeat timed calls; prints the median and the minimum.
// The peer's script warms up with 3 calls of several ms each; Ferris used to warm up a query
// with a single sub-millisecond call.
// Usage: bench_embed MODEL_DIR DOCS_JSON [--device cpu|cuda] [--sizes 1,100,1000] [--repeat N]
//        [--threads T] [--batch-tokens B] [--chunk TEXTS] [--dtype f32|f16|bf16] [--json]
//        [--each]   (--each: every timed call's ms too, in the order they ran)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ferris/embedding_model.h"
#include "ferris/error.h"
#include "ferris/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

int usage() {
    std::fprintf(
        stderr,
        "usage: bench_embed MODEL_DIR DOCS_JSON [--device D] [--sizes 1,100,1000] "
        "[--repeat N] [--threads T] [--batch-tokens B] [--chunk TEXTS] [--dtype f32|f16|bf16] "
        "[--json] [--each]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    const std::string model_dir = argv[1], docs_path = argv[2];
    std::string device = "cpu", sizes_arg = "1,100,1000", dtype;
    int repeat = 5, threads = 0;
    int64_t batch_tokens = 0;  // the library's default for the device
    int64_t chunk_texts = 0;   // the library's default
    bool json_output = false, each = false;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (arg == "--device")
            device = next();
        else if (arg == "--sizes")
            sizes_arg = next();
        else if (arg == "--repeat")
            repeat = std::atoi(next().c_str());
        else if (arg == "--threads")
            threads = std::atoi(next().c_str());
        else if (arg == "--batch-tokens")
            batch_tokens = std::atoll(next().c_str());
        else if (arg == "--chunk")
            chunk_texts = std::atoll(next().c_str());
        else if (arg == "--dtype")
            dtype = next();
        else if (arg == "--json")
            json_output = true;
        else if (arg == "--each")
            each = true;
        else
            return usage();
    }
    if (repeat < 1) return usage();
    try {
        ferris::set_num_threads(threads);
        std::vector<std::string> docs;
        {
            std::ifstream in(docs_path);
            if (!in) throw std::runtime_error("cannot read " + docs_path);
            docs = nlohmann::json::parse(in).get<std::vector<std::string>>();
        }
        ferris::EmbeddingOptions eo;
        eo.device = ferris::resolve_device(ferris::parse_device(device), nullptr);
        eo.batch_tokens = batch_tokens;
        eo.chunk_texts = chunk_texts;
        if (!dtype.empty()) eo.dtype = ferris::parse_dtype(dtype);
        const auto t_load = Clock::now();
        ferris::EmbeddingModel model = ferris::EmbeddingModel::from_dir(model_dir, eo);
        const double load_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - t_load).count();
        nlohmann::json results = nlohmann::json::array();
        std::stringstream ss(sizes_arg);
        for (std::string item; std::getline(ss, item, ',');) {
            const size_t n = std::min<size_t>(std::stoul(item), docs.size());
            std::vector<std::string> texts(docs.begin(), docs.begin() + static_cast<long>(n));
            if (n == 1) texts = {"how do I fine-tune a model with LoRA?"};  // one short query
            const auto warm_start = Clock::now();
            for (int w = 0;; ++w) {
                const auto spent = Clock::now() - warm_start;
                if (w >= 1 && ((w >= 3 && spent >= std::chrono::milliseconds(50)) ||
                               spent >= std::chrono::seconds(2)))
                    break;
                model.encode(texts);
            }
            std::vector<double> ms;
            ferris::EmbedStats stats;
            for (int r = 0; r < repeat; ++r) {
                const auto t0 = Clock::now();
                ferris::Tensor v = model.encode(texts, "", &stats);
                ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            }
            const std::vector<double> in_order = ms;
            std::sort(ms.begin(), ms.end());
            const double median = ms[ms.size() / 2];
            results.push_back({{"texts", n},
                               {"median_ms", median},
                               {"min_ms", ms.front()},
                               {"texts_per_s", 1000.0 * static_cast<double>(n) / median},
                               {"tokens", stats.tokens},
                               {"batches", stats.batches}});
            if (each) results.back()["each_ms"] = in_order;
            if (!json_output)
                std::printf(
                    "%-40s %-6s n=%-5zu median %9.2f ms  min %9.2f ms  %9.1f texts/s  "
                    "(%lld tokens, %lld batches)\n",
                    model_dir.c_str(), eo.device.str().c_str(), n, median, ms.front(),
                    1000.0 * static_cast<double>(n) / median, static_cast<long long>(stats.tokens),
                    static_cast<long long>(stats.batches));
            if (each && !json_output) {
                std::printf("  each (ms, in order):");
                for (double t : in_order) std::printf(" %.2f", t);
                std::printf("\n");
            }
        }
        if (json_output)
            std::printf("%s\n", nlohmann::json({{"model", model_dir},
                                                {"device", eo.device.str()},
                                                {"threads", ferris::num_threads()},
                                                {"load_ms", load_ms},
                                                {"results", results}})
                                    .dump()
                                    .c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
