// `ferris search`: semantic search over a corpus file (one passage per line): embeds the
// passages and the queries (--query, repeatable, or --queries F), ranks by cosine similarity,
// prints the top k of each. With --index F the passages' vectors are kept in F and later searches
// embed only what is new (search_index.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common.h"
#include "embed_common.h"
#include "search_index.h"

namespace ferris::cli {

namespace {

struct Hit {
    int64_t row = 0;  // into the corpus' passages
    double score = 0;
};

double norm(const float* x, int64_t d) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(x[i]) * x[i];
    return std::max(std::sqrt(s), 1e-12);
}

// The k passages (rows of pv, whose norms are pn) most like q by cosine, best first; ties by
// corpus order.
std::vector<Hit> top_hits(const Tensor& pv, const std::vector<double>& pn, const float* q,
                          int64_t k) {
    const int64_t n = pv.size(0), d = pv.size(1);
    const double qn = norm(q, d);
    std::vector<double> score(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const float* p = pv.data<float>() + i * d;
        double dot = 0;
        for (int64_t j = 0; j < d; ++j) dot += double(q[j]) * p[j];
        score[static_cast<size_t>(i)] = dot / (qn * pn[static_cast<size_t>(i)]);
    }
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    k = std::min(k, n);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        return score[a] != score[b] ? score[a] > score[b] : a < b;
    });
    std::vector<Hit> hits;
    for (int64_t r = 0; r < k; ++r) hits.push_back({order[r], score[order[r]]});
    return hits;
}

// The passages' vectors: embedded, or through the index file when one is named.
Tensor passage_vectors(const EmbeddingModel& model, const EncoderOptions& encoder,
                       const std::string& index, const std::vector<std::string>& passages,
                       const std::string& prefix) {
    const auto progress = progress_bar("embedding corpus", static_cast<int64_t>(passages.size()));
    if (index.empty()) return model.encode(passages, prefix, nullptr, progress);
    IndexUse use;
    Tensor pv = indexed_passage_vectors(
        index, index_fingerprint(encoder.model_dir, index, model, encoder.dtype, prefix), model,
        passages, prefix, progress, &use);
    std::fprintf(stderr, "[ferris] index %s: %lld vector(s) reused, %lld passage(s) embedded%s\n",
                 index.c_str(), static_cast<long long>(use.reused),
                 static_cast<long long>(use.embedded), use.written ? ", file written" : "");
    return pv;
}

}  // namespace

Command add_search_command(CLI::App& app) {
    struct Opts {
        EncoderOptions encoder;
        std::string corpus, queries_file, index;
        std::vector<std::string> queries;
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
    CLI::Option_group* what = sub->add_option_group("queries", "what to look for (one or both)");
    what->add_option("--query", o->queries, "a query (repeatable)");
    what->add_option("--queries", o->queries_file,
                     "file with one query per line, all embedded in one pass");
    what->require_option(1, 0);
    sub->add_option("--top-k", o->top_k, "how many passages to show for each query")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_option("--query-prefix", o->query_prefix,
                    "prepended to each query (default: the model type's, \"query: \" for E5)");
    sub->add_option("--passage-prefix", o->passage_prefix,
                    "prepended to each passage (default: the model type's, \"passage: \" for E5)");
    sub->add_option("--index", o->index,
                    "keep the passages' vectors in this file (safetensors) and reuse them:\n"
                    "later searches embed only the queries and new or changed passages; the file\n"
                    "is rebuilt when the model folder or an option that changes vectors does");
    sub->add_flag("--json", o->json,
                  "print {\"results\":[{\"rank\",\"line\",\"score\",\"text\"}]} for one --query;\n"
                  "for several, or --queries: {\"queries\":[{\"query\",\"results\"}]}");
    return {
        sub, [o]() {
            int64_t skipped = 0;
            std::vector<InputLine> lines = read_lines(o->corpus, &skipped);
            if (lines.empty()) fail(ErrorCode::InvalidArgument, o->corpus, ": no passages");
            std::vector<std::string> queries;
            for (size_t i = 0; i < o->queries.size(); ++i)
                queries.push_back(repair_utf8(o->queries[i], "--query #" + std::to_string(i + 1)));
            if (!o->queries_file.empty()) {
                const std::vector<InputLine> file = read_lines(o->queries_file, nullptr);
                if (file.empty()) fail(ErrorCode::InvalidArgument, o->queries_file, ": no queries");
                for (const InputLine& l : file) queries.push_back(l.text);
            }
            EmbeddingModel model = o->encoder.load(o->json);
            if (!model.normalize())
                std::fprintf(stderr,
                             "[ferris] notice: vectors are not normalized; ranking by cosine "
                             "anyway\n");
            std::vector<std::string> passages;
            for (const auto& l : lines) passages.push_back(l.text);
            const Tensor pv = passage_vectors(model, o->encoder, o->index, passages,
                                              o->passage_prefix.value_or(model.passage_prefix()));
            const Tensor qv = model.encode(queries, o->query_prefix.value_or(model.query_prefix()));

            // One --query keeps the single-query output; several, or a file, are grouped.
            const bool grouped = queries.size() > 1 || !o->queries_file.empty();
            std::vector<double> pn(static_cast<size_t>(pv.size(0)));  // once for every query
            for (size_t i = 0; i < pn.size(); ++i)
                pn[i] = norm(pv.data<float>() + int64_t(i) * pv.size(1), pv.size(1));
            nlohmann::json groups = nlohmann::json::array();
            for (size_t qi = 0; qi < queries.size(); ++qi) {
                const std::vector<Hit> hits =
                    top_hits(pv, pn, qv.data<float>() + int64_t(qi) * qv.size(1), o->top_k);
                if (grouped && !o->json)
                    std::printf("%squery %zu: %s\n", qi ? "\n" : "", qi + 1, queries[qi].c_str());
                nlohmann::json results = nlohmann::json::array();
                for (size_t r = 0; r < hits.size(); ++r) {
                    const InputLine& l = lines[static_cast<size_t>(hits[r].row)];
                    if (o->json)
                        results.push_back({{"rank", r + 1},
                                           {"line", l.line},
                                           {"score", hits[r].score},
                                           {"text", l.text}});
                    else
                        std::printf("%2zu. %.4f  line %lld: %s\n", r + 1, hits[r].score,
                                    static_cast<long long>(l.line), l.text.c_str());
                }
                groups.push_back({{"query", queries[qi]}, {"results", results}});
            }
            if (o->json) {
                const nlohmann::json out = grouped
                                               ? nlohmann::json{{"queries", groups}}
                                               : nlohmann::json{{"results", groups[0]["results"]}};
                std::printf("%s\n", out.dump().c_str());
            }
            return 0;
        }};
}

}  // namespace ferris::cli
