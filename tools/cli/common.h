// Shared CLI plumbing: each subcommand file registers itself with add_*_command(); options
// shared by model commands (--device, --threads, --dtype, --json) are declared once here.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferris/tokenizer.h"
#include "models/qwen2/model.h"

namespace ferris::cli {

using Runner = std::function<int()>;

// Registers a subcommand; `run` is called when it was the one parsed.
struct Command {
    CLI::App* app;
    Runner run;
};

struct ModelOptions {
    std::string model_dir;
    std::string adapter_dir;
    std::string device = "auto";
    std::string dtype;  // empty: the checkpoint's
    int threads = 0;

    void add_to(CLI::App* app, bool with_adapter);
};

struct LoadedModel {
    std::unique_ptr<models::qwen2::Qwen2Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
    std::string dir;
};

// A check that runs an option's own parser (parse_device, parse_dtype, ...) on its value, so that
// a value it refuses is a usage error (exit 2) naming the option, found before any work starts.
template <class Parse>
CLI::Validator parsed_by(Parse parse) {
    return CLI::Validator(
        [parse](std::string& value) -> std::string {
            try {
                parse(value);
                return {};
            } catch (const std::exception& e) {
                return e.what();
            }
        },
        "");
}

// Sets threads, resolves the device (printing the notice for auto), loads model + tokenizer
// (+ adapter).
LoadedModel load_model(const ModelOptions& options, bool quiet);
void apply_threads(int threads);

// Text from --text or --file (whole file, byte for byte); exactly one must be given.
std::string read_text_argument(const std::string& text, const std::string& file,
                               const char* text_flag, const char* file_flag);

Command add_create_model_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_tokenize_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_perplexity_command(CLI::App& app);
Command add_demo_command(CLI::App& app);
Command add_embed_command(CLI::App& app);
Command add_search_command(CLI::App& app);

}  // namespace ferris::cli
