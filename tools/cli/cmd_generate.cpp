// `ferris generate`: streamed text generation with sampling, stop strings and a summary line.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.h"
#include "runtime/generate.h"

namespace ferris::cli {

namespace {
// Qwen2.5's chat template for one user turn with the default system prompt.
std::string chat_prompt(const std::string& user, const std::string& system) {
    return "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n" + user +
           "<|im_end|>\n<|im_start|>assistant\n";
}
}  // namespace

Command add_generate_command(CLI::App& app) {
    struct Opts {
        ModelOptions model;
        std::string prompt, prompt_file, kv_dtype = "f32", system;
        std::vector<std::string> stop;
        runtime::SamplingParams sampling;
        int max_tokens = 128;
        int64_t ctx = 0;
        bool seed_given = false, ignore_eos = false, json = false, chat = false;
    };
    auto o = std::make_shared<Opts>();
    o->sampling.temperature = 0.8f;
    o->sampling.top_k = 40;
    o->sampling.top_p = 0.95f;
    o->sampling.min_p = 0.05f;
    o->system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
    CLI::App* sub = app.add_subcommand(
        "generate",
        "Generate text from a prompt; text streams to stdout, a summary goes to stderr.\n"
        "Greedy: --temperature 0. Reproducible sampling: --seed N.\n"
        "Example: ferris generate --model DIR --prompt \"fn main() {\" --max-tokens 64");
    o->model.add_to(sub, true);
    sub->add_option("--prompt", o->prompt, "prompt text");
    sub->add_option("--prompt-file", o->prompt_file, "file whose whole content is the prompt");
    sub->add_flag("--chat", o->chat, "wrap the prompt in the Qwen chat template");
    sub->add_option("--system", o->system, "system prompt for --chat");
    sub->add_option("--max-tokens", o->max_tokens, "tokens to generate at most")
        ->check(CLI::Range(0, 1 << 24))
        ->capture_default_str();
    sub->add_option("--temperature", o->sampling.temperature, "0 = greedy")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    sub->add_option("--top-k", o->sampling.top_k, "keep the k most likely tokens (0 = off)")
        ->check(CLI::Range(0, 1 << 30))
        ->capture_default_str();
    sub->add_option("--top-p", o->sampling.top_p, "nucleus mass to keep (1 = off)")
        ->check(CLI::Range(1e-6, 1.0))
        ->capture_default_str();
    sub->add_option("--min-p", o->sampling.min_p, "drop tokens below min-p x the top probability")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    sub->add_option("--repetition-penalty", o->sampling.repetition_penalty,
                    "HF semantics: previous tokens' positive logits / p, negative x p (1 = off)")
        ->check(CLI::Range(1e-3, 100.0))
        ->capture_default_str();
    sub->add_option("--seed", o->sampling.seed, "sampling seed (default: random, printed)")
        ->each([o](const std::string&) { o->seed_given = true; });
    sub->add_option("--stop", o->stop, "stop when this text appears (repeatable)");
    sub->add_flag("--ignore-eos", o->ignore_eos, "keep going past end-of-sequence tokens");
    sub->add_option("--kv-dtype", o->kv_dtype, "KV cache dtype: f32, f16 or bf16")
        ->check(parsed_by(parse_dtype))
        ->capture_default_str();
    sub->add_option("--ctx", o->ctx, "context size cap (default: the model's maximum)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    sub->add_flag("--json", o->json,
                  "print {\"prompt_ids\",\"ids\",\"text\",\"stop_reason\"}; nothing streamed");
    return {
        sub, [o]() {
            std::string prompt =
                read_text_argument(o->prompt, o->prompt_file, "--prompt", "--prompt-file");
            if (o->prompt.empty() && o->prompt_file.empty())
                fail(ErrorCode::InvalidArgument, "give --prompt or --prompt-file");
            if (o->chat) prompt = chat_prompt(prompt, o->system);
            if (!o->seed_given)
                o->sampling.seed = static_cast<uint64_t>(
                    std::chrono::system_clock::now().time_since_epoch().count());
            LoadedModel m = load_model(o->model, o->json);
            runtime::GenerateOptions g;
            g.max_tokens = o->max_tokens;
            g.sampling = o->sampling;
            g.stop = o->stop;
            g.ignore_eos = o->ignore_eos;
            g.eos_ids = runtime::eos_token_ids(m.dir, m.model->config());
            if (o->chat) g.eos_ids.push_back(151645);  // <|im_end|> ends a chat turn
            g.kv_dtype = parse_dtype(o->kv_dtype);
            g.context = o->ctx;
            const std::vector<int32_t> ids = m.tokenizer->encode(prompt);
            runtime::TextCallback stream;
            if (!o->json)
                stream = [](const std::string& s) {
                    std::fwrite(s.data(), 1, s.size(), stdout);
                    std::fflush(stdout);
                };
            runtime::GenerateResult r = runtime::generate(*m.model, *m.tokenizer, ids, g, stream);
            if (o->json) {
                nlohmann::json j = {{"prompt_ids", r.prompt_ids},
                                    {"ids", r.ids},
                                    {"text", r.text},
                                    {"stop_reason", r.stop_reason}};
                std::printf(
                    "%s\n",
                    j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
                return 0;
            }
            std::printf("\n");
            const size_t n = r.ids.size();
            const double gen_rate =
                n > 1 && r.generate_seconds > 0 ? (n - 1) / r.generate_seconds : 0.0;
            std::fprintf(stderr,
                         "[ferris] %zu tokens (%s) | prompt %zu tokens, first token after %.1f ms "
                         "(%.0f tok/s) | generation %.1f tok/s | seed %llu | %s\n",
                         n, r.stop_reason.c_str(), r.prompt_ids.size(), r.prompt_seconds * 1e3,
                         r.prompt_ids.size() / std::max(r.prompt_seconds, 1e-9), gen_rate,
                         static_cast<unsigned long long>(g.sampling.seed),
                         m.model->device().str().c_str());
            return 0;
        }};
}

}  // namespace ferris::cli
