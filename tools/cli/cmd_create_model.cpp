// `ferris create-model`: writes a random-weight Hugging Face model folder of a named shape.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "common.h"
#include "models/encoder/create.h"
#include "models/qwen2/create.h"

namespace ferris::cli {

Command add_create_model_command(CLI::App& app) {
    struct Opts {
        std::string arch = "qwen2", preset = "tiny", out, dtype, pooling = "mean";
        uint64_t seed = 1;
        int shards = 1, layout = 4;
        int64_t max_seq_length = 0;
        bool force = false, no_normalize = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "create-model",
        "Write a random-weight model folder in the exact Hugging Face layout (config.json,\n"
        "safetensors, tokenizer files; sentence-transformers module files for encoders),\n"
        "reproducible from --seed. Examples:\n"
        "  ferris create-model --arch qwen2 --preset qwen2.5-0.5b --out /tmp/qwen\n"
        "  ferris create-model --arch bert --preset e5-small-v2 --out /tmp/e5");
    sub->add_option("--arch", o->arch, "architecture: qwen2, bert or mpnet")
        ->check(CLI::IsMember({"qwen2", "bert", "mpnet"}))
        ->capture_default_str();
    auto join = [](const std::vector<std::string>& names) {
        std::string s;
        for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
        return s;
    };
    sub->add_option(
           "--preset", o->preset,
           "shape; qwen2: " + join(models::qwen2::preset_names()) +
               "; bert: " + join(models::encoder::preset_names(models::encoder::Arch::Bert)) +
               "; mpnet: " + join(models::encoder::preset_names(models::encoder::Arch::MPNet)))
        ->capture_default_str();
    sub->add_option("--seed", o->seed, "random seed")->capture_default_str();
    sub->add_option("--out", o->out, "output folder (created; must be empty unless --force)")
        ->required();
    sub->add_option("--dtype", o->dtype,
                    "weight dtype: bf16, f16 or f32 (default: bf16 for qwen2, f32 for encoders,\n"
                    "as their Hub checkpoints)")
        ->check(parsed_by(parse_dtype));
    sub->add_option("--shards", o->shards, "write N shards + model.safetensors.index.json")
        ->check(CLI::Range(1, 99))
        ->capture_default_str();
    sub->add_option("--config-layout", o->layout,
                    "config.json layout: 4 (Hub checkpoints) or 5 (transformers 5 save_pretrained)")
        ->check(CLI::IsMember({4, 5}))
        ->capture_default_str();
    sub->add_flag("--force", o->force, "overwrite files in a non-empty folder");
    sub->add_option("--pooling", o->pooling,
                    "encoders: pooling in 1_Pooling/config.json (mean, cls, max)")
        ->check(CLI::IsMember({"mean", "cls", "max"}))
        ->capture_default_str();
    sub->add_flag("--no-normalize", o->no_normalize, "encoders: no Normalize module");
    sub->add_option("--max-seq-length", o->max_seq_length,
                    "encoders: sentence_bert_config.json max_seq_length (default: the preset's)");
    return {sub, [o]() {
                std::function<void(size_t, size_t)> progress;
                if (::isatty(2))  // a progress bar for the big presets, only on a terminal
                    progress = [last = -1](size_t done, size_t total) mutable {
                        const int pct = static_cast<int>(100.0 * done / std::max<size_t>(total, 1));
                        if (pct == last) return;
                        last = pct;
                        std::fprintf(stderr, "\r[ferris] drawing weights [%-40s] %3d%%",
                                     std::string(static_cast<size_t>(pct * 40 / 100), '#').c_str(),
                                     pct);
                        if (pct == 100) std::fprintf(stderr, "\n");
                    };
                if (o->arch != "qwen2") {
                    namespace enc = models::encoder;
                    const enc::Arch arch = o->arch == "bert" ? enc::Arch::Bert : enc::Arch::MPNet;
                    enc::EncoderConfig c = enc::preset(arch, o->preset);
                    c.dtype = parse_dtype(o->dtype.empty() ? "f32" : o->dtype);
                    enc::CreateOptions co;
                    co.seed = o->seed;
                    co.pooling = o->pooling;
                    co.normalize = !o->no_normalize;
                    co.max_seq_length = o->max_seq_length > 0
                                            ? o->max_seq_length
                                            : enc::preset_max_seq_length(o->preset);
                    co.overwrite = o->force;
                    co.progress = progress;
                    const size_t bytes = enc::create_random_encoder(o->out, c, co);
                    std::fprintf(stderr,
                                 "[ferris] wrote %s: %s preset %s, %.1fM parameters, %.1f MB %s\n",
                                 o->out.c_str(), o->arch.c_str(), o->preset.c_str(),
                                 c.parameter_count() / 1e6, bytes / 1e6, dtype_name(c.dtype));
                    return 0;
                }
                models::qwen2::Qwen2Config c = models::qwen2::preset(o->preset);
                c.dtype = parse_dtype(o->dtype.empty() ? "bf16" : o->dtype);
                models::qwen2::CreateOptions co;
                co.seed = o->seed;
                co.shards = o->shards;
                co.transformers5_layout = o->layout == 5;
                co.overwrite = o->force;
                co.progress = progress;
                const size_t bytes = models::qwen2::create_random_model(o->out, c, co);
                std::fprintf(stderr,
                             "[ferris] wrote %s: qwen2 preset %s, %.1fM parameters, %.1f MB %s\n",
                             o->out.c_str(), o->preset.c_str(), c.parameter_count() / 1e6,
                             bytes / 1e6, dtype_name(c.dtype));
                return 0;
            }};
}

}  // namespace ferris::cli
