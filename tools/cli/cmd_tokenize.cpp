// `ferris tokenize`: text -> token ids with the model's tokenizer.json.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.h"
#include "io/files.h"
#include "tokenizers/wordpiece.h"

namespace ferris::cli {

Command add_tokenize_command(CLI::App& app) {
    struct Opts {
        std::string model, text, file;
        bool add_special = false, json = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* sub = app.add_subcommand(
        "tokenize",
        "Show the token ids of a text (as Hugging Face tokenizers computes them).\n"
        "Example: ferris tokenize --model DIR --text \"fn main() {\" --json");
    sub->add_option("--model", o->model, "model folder or tokenizer.json")->required();
    sub->add_option("--text", o->text, "text to tokenize");
    sub->add_option("--file", o->file, "file whose whole content is the text (byte for byte)");
    sub->add_flag("--add-special", o->add_special, "apply the post-processor's special tokens");
    sub->add_flag("--json", o->json, "print {\"ids\":[...]}");
    return {sub, [o]() {
                const std::string text = read_text_argument(o->text, o->file, "--text", "--file");
                auto tok = Tokenizer::from_file(o->model);
                const std::vector<int32_t> ids = tok->encode(text, o->add_special);
                // Encoders truncate at their maximum length; say so rather than cut silently.
                if (auto* wp = dynamic_cast<const WordPieceTokenizer*>(tok.get());
                    wp && wp->max_length() && static_cast<int64_t>(ids.size()) > *wp->max_length())
                    std::fprintf(stderr,
                                 "[ferris] notice: %zu tokens exceed the tokenizer's maximum "
                                 "length of %lld; `ferris embed` truncates to it\n",
                                 ids.size(), static_cast<long long>(*wp->max_length()));
                if (o->json) {
                    std::printf("%s\n", nlohmann::json({{"ids", ids}}).dump().c_str());
                    return 0;
                }
                for (int32_t id : ids) {
                    std::string piece = tok->decode({id});
                    std::printf("%8d  %s\n", id,
                                nlohmann::json(piece)
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                    .c_str());
                }
                std::fprintf(stderr, "[ferris] %zu tokens\n", ids.size());
                return 0;
            }};
}

}  // namespace ferris::cli
