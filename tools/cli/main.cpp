// ferris: one binary, one subcommand per job. Usage errors exit 2, failures print one
// "error: ..." line and exit 1.
#include <cstdio>
#include <new>

#include "common.h"

int main(int argc, char** argv) {
    CLI::App app{
        "Ferris: run, fine-tune and embed open language models (Qwen2, BERT, MPNet)\n"
        "from Hugging Face folders, on CPU or NVIDIA GPUs. One binary, no Python."};
    app.set_version_flag("--version", std::string("ferris ") + FERRIS_VERSION);
    // At most one; "none" is reported below. require_subcommand(1) would answer an unknown
    // command ("ferris bogus") with "A subcommand is required" instead of naming it.
    app.require_subcommand(0, 1);
    app.footer("Start with `ferris demo`, or `ferris <command> --help`.");
    std::vector<ferris::cli::Command> commands = {
        ferris::cli::add_demo_command(app),     ferris::cli::add_create_model_command(app),
        ferris::cli::add_inspect_command(app),  ferris::cli::add_tokenize_command(app),
        ferris::cli::add_generate_command(app), ferris::cli::add_perplexity_command(app),
        ferris::cli::add_embed_command(app),    ferris::cli::add_search_command(app),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    if (app.get_subcommands().empty()) {
        std::fprintf(stderr, "A subcommand is required\nRun with --help for more information.\n");
        return 2;
    }
    try {
        for (auto& c : commands)
            if (c.app->parsed()) return c.run();
    } catch (const ferris::Error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 2;
}
