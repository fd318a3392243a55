// `ferris create-model`: writes a random-weight Hugging Face model folder of a named shape.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "common.h"
#include "models/qwen2/create.h"

namespace ferris::cli {

Command add_create_model_command(CLI::App& app) {
    struct Opts {
        std::string arch = "qwen2", preset = "tiny", out, dtype = "bf16";
        uint64_t seed = 1;
        int shards = 1, layout = 4;
        bool force = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "create-model",
        "Write a random-weight model folder in the exact Hugging Face layout (config.json,\n"
        "safetensors, tokenizer.json, generation_config.json), reproducible from --seed.\n"
        "Example: ferris create-model --arch qwen2 --preset tiny --seed 1 --out /tmp/tiny");
    sub->add_option("--arch", o->arch, "architecture (qwen2)")->capture_default_str();
    std::string presets;
    for (const auto& n : models::qwen2::preset_names())
        presets += (presets.empty() ? "" : ", ") + n;
    sub->add_option("--preset", o->preset, "shape: " + presets)->capture_default_str();
    sub->add_option("--seed", o->seed, "random seed")->capture_default_str();
    sub->add_option("--out", o->out, "output folder (created; must be empty unless --force)")
        ->required();
    sub->add_option("--dtype", o->dtype, "weight dtype: bf16, f16 or f32")->capture_default_str();
    sub->add_option("--shards", o->shards, "write N shards + model.safetensors.index.json")
        ->check(CLI::Range(1, 99))
        ->capture_default_str();
    sub->add_option("--config-layout", o->layout,
                    "config.json layout: 4 (Hub checkpoints) or 5 (transformers 5 save_pretrained)")
        ->check(CLI::IsMember({4, 5}))
        ->capture_default_str();
    sub->add_flag("--force", o->force, "overwrite files in a non-empty folder");
    return {sub, [o]() {
                if (o->arch != "qwen2")
                    fail(ErrorCode::Unsupported, "--arch ", o->arch,
                         ": only qwen2 for now (bert and mpnet come with the embeddings issue)");
                models::qwen2::Qwen2Config c = models::qwen2::preset(o->preset);
                c.dtype = parse_dtype(o->dtype);
                models::qwen2::CreateOptions co;
                co.seed = o->seed;
                co.shards = o->shards;
                co.transformers5_layout = o->layout == 5;
                co.overwrite = o->force;
                if (::isatty(2))  // a progress bar for the big presets, only on a terminal
                    co.progress = [last = -1](size_t done, size_t total) mutable {
                        const int pct = static_cast<int>(100.0 * done / std::max<size_t>(total, 1));
                        if (pct == last) return;
                        last = pct;
                        std::fprintf(stderr, "\r[ferris] drawing weights [%-40s] %3d%%",
                                     std::string(static_cast<size_t>(pct * 40 / 100), '#').c_str(),
                                     pct);
                        if (pct == 100) std::fprintf(stderr, "\n");
                    };
                const size_t bytes = models::qwen2::create_random_model(o->out, c, co);
                std::fprintf(stderr,
                             "[ferris] wrote %s: qwen2 preset %s, %.1fM parameters, %.1f MB %s\n",
                             o->out.c_str(), o->preset.c_str(), c.parameter_count() / 1e6,
                             bytes / 1e6, dtype_name(c.dtype));
                return 0;
            }};
}

}  // namespace ferris::cli
