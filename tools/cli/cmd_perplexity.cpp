// `ferris perplexity`: mean next-token NLL and perplexity of a text (HF labels=input_ids).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.h"
#include "runtime/perplexity.h"

namespace ferris::cli {

Command add_perplexity_command(CLI::App& app) {
    struct Opts {
        ModelOptions model;
        std::string text, file;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "perplexity",
        "Perplexity of a text under the model (optionally with a LoRA adapter).\n"
        "Example: ferris perplexity --model DIR --file notes.txt --json");
    o->model.add_to(sub, true);
    sub->add_option("--text", o->text, "text to score");
    sub->add_option("--file", o->file, "file whose whole content is the text");
    sub->add_flag("--json", o->json, "print {\"n_tokens\":N,\"nll\":X,\"ppl\":Y}");
    return {sub, [o]() {
                const std::string text = read_text_argument(o->text, o->file, "--text", "--file");
                LoadedModel m = load_model(o->model, o->json);
                const std::vector<int32_t> ids = m.tokenizer->encode(text);
                runtime::PerplexityResult r = runtime::perplexity(*m.model, ids);
                if (o->json) {
                    nlohmann::json j = {{"n_tokens", r.n_tokens}, {"nll", r.nll}, {"ppl", r.ppl}};
                    std::printf("%s\n", j.dump().c_str());
                } else {
                    std::printf("tokens %lld  nll %.6f  ppl %.4f\n",
                                static_cast<long long>(r.n_tokens), r.nll, r.ppl);
                    std::fprintf(stderr, "[ferris] %.3f s, %.0f tokens/s\n", r.seconds,
                                 r.n_tokens / r.seconds);
                }
                return 0;
            }};
}

}  // namespace ferris::cli
