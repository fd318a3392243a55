// `ferris demo`: the end-to-end tour on an embedded default — writes a small random-weight
// Qwen2 model with the real Qwen tokenizer, then tokenizes, streams a generation and scores
// perplexity, with timings. No files needed; the model goes to a temporary folder.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common.h"
#include "models/qwen2/create.h"
#include "runtime/generate.h"
#include "runtime/perplexity.h"

namespace ferris::cli {

namespace {
double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Command add_demo_command(CLI::App& app) {
    struct Opts {
        std::string out, preset = "small", device = "auto", prompt = "fn main() {";
        int max_tokens = 48, threads = 0;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "demo",
        "End-to-end tour on an embedded default: create a random-weight Qwen2 model with\n"
        "the real Qwen tokenizer, tokenize, stream a generation, score perplexity.");
    sub->add_option("--out", o->out, "keep the model in this folder (default: a temporary one)");
    sub->add_option("--preset", o->preset, "model shape (see create-model)")->capture_default_str();
    sub->add_option("--prompt", o->prompt, "prompt")->capture_default_str();
    sub->add_option("--max-tokens", o->max_tokens, "tokens to generate")->capture_default_str();
    sub->add_option("--device", o->device, "cpu, cuda, cuda:N or auto")
        ->check(parsed_by(parse_device))
        ->capture_default_str();
    sub->add_option("--threads", o->threads, "CPU threads (0 = all)")->capture_default_str();
    return {
        sub, [o]() {
            namespace fs = std::filesystem;
            const bool temporary = o->out.empty();
            const std::string dir =
                temporary
                    ? (fs::temp_directory_path() / ("ferris-demo-" + std::to_string(::getpid())))
                          .string()
                    : o->out;
            struct Cleanup {
                std::string dir;
                bool on;
                ~Cleanup() {
                    std::error_code ec;
                    if (on) fs::remove_all(dir, ec);
                }
            } cleanup{dir, temporary};

            std::printf("== 1. create-model: random-weight Qwen2 (preset %s) -> %s\n",
                        o->preset.c_str(), dir.c_str());
            auto t0 = std::chrono::steady_clock::now();
            models::qwen2::Qwen2Config cfg = models::qwen2::preset(o->preset);
            models::qwen2::CreateOptions co;
            co.overwrite = true;
            const size_t bytes = models::qwen2::create_random_model(dir, cfg, co);
            std::printf("   %.1fM parameters, %.1f MB bf16, written in %.2f s\n",
                        cfg.parameter_count() / 1e6, bytes / 1e6, since(t0));

            ModelOptions mo;
            mo.model_dir = dir;
            mo.device = o->device;
            mo.threads = o->threads;
            t0 = std::chrono::steady_clock::now();
            LoadedModel m = load_model(mo, false);
            std::printf("   loaded on %s in %.3f s\n", m.model->device().str().c_str(), since(t0));

            std::printf("\n== 2. tokenize %s\n", ("\"" + o->prompt + "\"").c_str());
            const std::vector<int32_t> ids = m.tokenizer->encode(o->prompt);
            std::printf("   ids:");
            for (int32_t id : ids) std::printf(" %d", id);
            std::printf("\n   tokens:");
            for (int32_t id : ids) std::printf(" [%s]", m.tokenizer->decode({id}).c_str());
            std::printf(
                "\n\n== 3. generate %d tokens (temperature 0.8, seed 7; random weights "
                "make random text)\n",
                o->max_tokens);
            runtime::GenerateOptions g;
            g.max_tokens = o->max_tokens;
            g.sampling.temperature = 0.8f;
            g.sampling.top_p = 0.95f;
            g.sampling.seed = 7;
            g.ignore_eos = true;
            std::printf("%s", o->prompt.c_str());
            runtime::GenerateResult r =
                runtime::generate(*m.model, *m.tokenizer, ids, g, [](const std::string& s) {
                    std::fwrite(s.data(), 1, s.size(), stdout);
                    std::fflush(stdout);
                });
            const double rate = r.ids.size() > 1 ? (r.ids.size() - 1) / r.generate_seconds : 0;
            std::printf("\n   first token after %.1f ms, then %.1f tokens/s, KV cache %.2f MB\n",
                        r.prompt_seconds * 1e3, rate, r.kv_cache_bytes / 1e6);

            const std::string text =
                "Ferris loads Hugging Face checkpoints directly and computes what transformers "
                "computes, token for token.";
            std::printf("\n== 4. perplexity of \"%s\"\n", text.c_str());
            runtime::PerplexityResult p = runtime::perplexity(*m.model, m.tokenizer->encode(text));
            std::printf(
                "   %lld tokens, nll %.4f, ppl %.3g (random weights: far from a trained model), "
                "%.3f s\n",
                static_cast<long long>(p.n_tokens), p.nll, p.ppl, p.seconds);
            std::printf(
                "\nDone. Next: ferris create-model --preset qwen2.5-0.5b --out DIR; "
                "ferris generate --model DIR --prompt ...\n");
            return 0;
        }};
}

}  // namespace ferris::cli
