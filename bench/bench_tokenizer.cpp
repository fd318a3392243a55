// bench_tokenizer: single-threaded encode throughput on a JSON array of documents. One warm-up
// pass (it also fills the piece cache, as HF `tokenizers` fills its own), then N timed passes;
// prints the median. Usage: bench_tokenizer TOKENIZER_JSON DOCS_JSON [--repeat N] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ferris/error.h"
#include "ferris/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Encodes every document once; returns the token count.
size_t encode_all(const ferris::Tokenizer& tokenizer, const std::vector<std::string>& docs) {
    size_t tokens = 0;
    for (const std::string& doc : docs) tokens += tokenizer.encode(doc).size();
    return tokens;
}

int usage() {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER_JSON DOCS_JSON [--repeat N] [--json]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    std::string tokenizer_path = argv[1], docs_path = argv[2];
    int repeat = 10;
    bool json_output = false;
    for (int i = 3; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--repeat" && i + 1 < argc) {
            repeat = std::atoi(argv[++i]);
            if (repeat < 1) return usage();
        } else if (arg == "--json") {
            json_output = true;
        } else {
            return usage();
        }
    }
    try {
        std::ifstream in(docs_path);
        if (!in) ferris::fail(ferris::ErrorCode::Io, docs_path, ": cannot open");
        std::vector<std::string> docs = nlohmann::json::parse(in).get<std::vector<std::string>>();
        size_t bytes = 0;
        for (const std::string& doc : docs) bytes += doc.size();

        Clock::time_point start = Clock::now();
        auto tokenizer = ferris::Tokenizer::from_file(tokenizer_path);
        double load_s = seconds_since(start);

        start = Clock::now();
        size_t tokens = encode_all(*tokenizer, docs);  // warm-up, cold cache
        double cold_s = seconds_since(start);

        std::vector<double> times;
        for (int r = 0; r < repeat; ++r) {
            start = Clock::now();
            size_t n = encode_all(*tokenizer, docs);
            times.push_back(seconds_since(start));
            if (n != tokens) ferris::fail(ferris::ErrorCode::Internal, "token count changed");
        }
        std::sort(times.begin(), times.end());
        double median = times.size() % 2
                            ? times[times.size() / 2]
                            : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
        double tokens_per_s = static_cast<double>(tokens) / median;
        if (json_output) {
            nlohmann::json out = {{"tokenizer", tokenizer_path},
                                  {"docs", docs.size()},
                                  {"bytes", bytes},
                                  {"tokens", tokens},
                                  {"repeat", repeat},
                                  {"load_ms", load_s * 1e3},
                                  {"cold_pass_ms", cold_s * 1e3},
                                  {"median_ms", median * 1e3},
                                  {"min_ms", times.front() * 1e3},
                                  {"tokens_per_s", tokens_per_s}};
            std::printf("%s\n", out.dump().c_str());
        } else {
            std::printf("docs %zu, %zu bytes, %zu tokens; load %.1f ms\n", docs.size(), bytes,
                        tokens, load_s * 1e3);
            std::printf("cold pass %.2f ms (%.0f tokens/s)\n", cold_s * 1e3,
                        static_cast<double>(tokens) / cold_s);
            std::printf("median of %d: %.2f ms (min %.2f ms) = %.0f tokens/s\n", repeat,
                        median * 1e3, times.front() * 1e3, tokens_per_s);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
