// `ferris search`: semantic search over a corpus file (one passage per line): embeds the
// passages and the query, ranks by cosine similarity, prints the top k. With --index F the
// passages' vectors are kept in F and later searches embed only what is new (search_index.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common.h"
#include "embed_common.h"
#include "search_index.h"

namespace ferris::cli {

Command add_search_command(CLI::App& app) {
    struct Opts {
        EncoderOptions encoder;
        std::string corpus, query, index;
        std::optional<std::string> query_prefix, passage_prefix;
        int64_t top_k = 5;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "search",
        "Semantic search: rank the lines of a corpus by cosine similarity to a query.\n"
        "Example: ferris search --model DIR --corpus docs.txt --query \"how do I use LoRA?\" "
        "--top-k 5");
    o->encoder.add_to(sub);
    sub->add_option("--corpus", o->corpus, "file with one passage per line")->required();
    sub->add_option("--query", o->query, "what to look for")->required();
    sub->add_option("--top-k", o->top_k, "how many passages to show")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_option("--query-prefix", o->query_prefix,
                    "prepended to the query (default: the model type's, \"query: \" for E5)");
    sub->add_option("--passage-prefix", o->passage_prefix,
                    "prepended to each passage (default: the model type's, \"passage: \" for E5)");
    sub->add_option("--index", o->index,
                    "keep the passages' vectors in this file (safetensors) and reuse them:\n"
                    "later searches embed only the query and new or changed passages; the file\n"
                    "is rebuilt when the model folder or an option that changes vectors does");
    sub->add_flag("--json", o->json,
                  "print {\"results\":[{\"rank\",\"line\",\"score\",\"text\"}]}");
    return {sub, [o]() {
                int64_t skipped = 0;
                std::vector<InputLine> lines = read_lines(o->corpus, &skipped);
                if (lines.empty()) fail(ErrorCode::InvalidArgument, o->corpus, ": no passages");
                EmbeddingModel model = o->encoder.load(o->json);
                if (!model.normalize())
                    std::fprintf(stderr,
                                 "[ferris] notice: vectors are not normalized; ranking by cosine "
                                 "anyway\n");
                std::vector<std::string> passages;
                for (const auto& l : lines) passages.push_back(l.text);
                const std::string prefix = o->passage_prefix.value_or(model.passage_prefix());
                const auto progress =
                    progress_bar("embedding corpus", static_cast<int64_t>(passages.size()));
                Tensor pv;
                if (o->index.empty()) {
                    pv = model.encode(passages, prefix, nullptr, progress);
                } else {
                    IndexUse use;
                    pv = indexed_passage_vectors(o->index,
                                                 index_fingerprint(o->encoder.model_dir, o->index,
                                                                   model, o->encoder.dtype, prefix),
                                                 model, passages, prefix, progress, &use);
                    std::fprintf(stderr,
                                 "[ferris] index %s: %lld vector(s) reused, %lld passage(s) "
                                 "embedded%s\n",
                                 o->index.c_str(), static_cast<long long>(use.reused),
                                 static_cast<long long>(use.embedded),
                                 use.written ? ", file written" : "");
                }
                Tensor qv = model.encode({repair_utf8(o->query, "--query")},
                                         o->query_prefix.value_or(model.query_prefix()));
                const int64_t N = pv.size(0), D = pv.size(1);
                auto norm = [D](const float* x) {
                    double s = 0;
                    for (int64_t i = 0; i < D; ++i) s += double(x[i]) * x[i];
                    return std::max(std::sqrt(s), 1e-12);
                };
                const float* q = qv.data<float>();
                const double qn = norm(q);
                std::vector<double> score(static_cast<size_t>(N));
                for (int64_t i = 0; i < N; ++i) {
                    const float* p = pv.data<float>() + i * D;
                    double d = 0;
                    for (int64_t k = 0; k < D; ++k) d += double(q[k]) * p[k];
                    score[i] = d / (qn * norm(p));
                }
                std::vector<int64_t> order(static_cast<size_t>(N));
                std::iota(order.begin(), order.end(), 0);
                const int64_t k = std::min(o->top_k, N);
                std::partial_sort(order.begin(), order.begin() + k, order.end(),
                                  [&](int64_t a, int64_t b) {
                                      return score[a] != score[b] ? score[a] > score[b] : a < b;
                                  });
                nlohmann::json results = nlohmann::json::array();
                for (int64_t r = 0; r < k; ++r) {
                    const InputLine& l = lines[static_cast<size_t>(order[r])];
                    if (o->json) {
                        results.push_back({{"rank", r + 1},
                                           {"line", l.line},
                                           {"score", score[order[r]]},
                                           {"text", l.text}});
                    } else {
                        std::printf("%2lld. %.4f  line %lld: %s\n", static_cast<long long>(r + 1),
                                    score[order[r]], static_cast<long long>(l.line),
                                    l.text.c_str());
                    }
                }
                if (o->json)
                    std::printf("%s\n", nlohmann::json({{"results", results}}).dump().c_str());
                return 0;
            }};
}

}  // namespace ferris::cli
