// `ferris embed`: texts in, unit vectors out (sentence-transformers' numbers), from --text or a
// file with one text per line; to stdout (JSON lines, or --json) or --output F.jsonl / F.npy.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.h"
#include "embed_common.h"

namespace ferris::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Command add_embed_command(CLI::App& app) {
    struct Opts {
        EncoderOptions encoder;
        std::vector<std::string> texts;
        std::string input, output, prefix;
        bool prefix_set = false, json = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "embed",
        "Embed texts with a BERT (E5, MiniLM) or MPNet sentence encoder: pooled, L2-normalized\n"
        "vectors identical to sentence-transformers'. Examples:\n"
        "  ferris embed --model DIR --input docs.txt --prefix \"passage: \" --output docs.jsonl\n"
        "  ferris embed --model DIR --text \"query: how do I use LoRA?\" --json");
    o->encoder.add_to(sub);
    sub->add_option("--text", o->texts, "a text to embed (repeatable)");
    sub->add_option("--input", o->input, "file with one text per line (blank lines skipped)");
    sub->add_option("--prefix", o->prefix,
                    "prepended to every text (E5: \"query: \" or \"passage: \")");
    sub->add_option("--output", o->output,
                    "write F.jsonl ({\"text\",\"embedding\"} per line) or F.npy (float32 N x D)");
    sub->add_flag("--json", o->json, "print {\"dim\":D,\"embeddings\":[[...],...]} on stdout");
    return {
        sub, [o]() {
            if (o->texts.empty() == o->input.empty())
                fail(ErrorCode::InvalidArgument, "give either --text or --input");
            if (!o->output.empty() && !ends_with(o->output, ".jsonl") &&
                !ends_with(o->output, ".npy"))
                fail(ErrorCode::InvalidArgument, "--output ", o->output,
                     ": expected a .jsonl or .npy file name");
            std::vector<std::string> texts;
            if (!o->input.empty()) {
                int64_t skipped = 0;
                for (auto& l : read_lines(o->input, &skipped)) texts.push_back(l.text);
                if (skipped)
                    std::fprintf(stderr, "[ferris] %s: skipped %lld blank line(s)\n",
                                 o->input.c_str(), static_cast<long long>(skipped));
                if (texts.empty()) fail(ErrorCode::InvalidArgument, o->input, ": no text to embed");
            } else {
                for (size_t i = 0; i < o->texts.size(); ++i)
                    texts.push_back(repair_utf8(o->texts[i], "--text #" + std::to_string(i + 1)));
            }
            EmbeddingModel model = o->encoder.load(o->json);
            const auto t0 = std::chrono::steady_clock::now();
            EmbedStats stats;
            Tensor v = model.encode(texts, repair_utf8(o->prefix, "--prefix"), &stats,
                                    progress_bar("embedding", static_cast<int64_t>(texts.size())));
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            if (stats.truncated)
                std::fprintf(stderr,
                             "[ferris] notice: %lld text(s) longer than %lld tokens were "
                             "truncated\n",
                             static_cast<long long>(stats.truncated),
                             static_cast<long long>(model.max_length()));
            const int64_t D = v.size(1);
            if (!o->output.empty()) {
                if (ends_with(o->output, ".npy"))
                    write_npy(o->output, v);
                else
                    write_jsonl(o->output, texts, v);
            } else if (o->json) {
                nlohmann::json j;
                j["dim"] = D;
                j["embeddings"] = nlohmann::json::array();
                for (int64_t i = 0; i < v.size(0); ++i)
                    j["embeddings"].push_back(
                        std::vector<float>(v.data<float>() + i * D, v.data<float>() + (i + 1) * D));
                std::printf("%s\n", j.dump().c_str());
            } else {
                for (int64_t i = 0; i < v.size(0); ++i) {
                    nlohmann::json j;
                    j["text"] = texts[static_cast<size_t>(i)];
                    j["embedding"] =
                        std::vector<float>(v.data<float>() + i * D, v.data<float>() + (i + 1) * D);
                    std::printf("%s\n", j.dump().c_str());
                }
            }
            std::fprintf(stderr,
                         "[ferris] embedded %lld text(s) (%lld tokens, %lld batch(es)) "
                         "into %lld-d %s%s vectors in %.1f ms on %s\n",
                         static_cast<long long>(stats.texts), static_cast<long long>(stats.tokens),
                         static_cast<long long>(stats.batches), static_cast<long long>(D),
                         pooling_name(model.pooling()),
                         model.normalize() ? "-pooled normalized" : "-pooled", ms,
                         model.device().str().c_str());
            return 0;
        }};
}

}  // namespace ferris::cli
