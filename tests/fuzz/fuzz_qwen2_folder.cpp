// A Qwen2 folder's config.json and generation_config.json of any bytes (the input split at the
// first NUL byte; no NUL: no generation config), beside the weights of a tiny random Qwen2
// (create-model's "tiny" preset): loading must either refuse the folder or give a model that
// generates ids inside the vocabulary, stopping on the EOS ids it read.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ferris/assets.h"
#include "fuzz_target.h"
#include "models/qwen2/create.h"
#include "runtime/generate.h"
#include "tokenizers/tokenizer_json.h"

namespace {

const std::string& folder() {
    static const std::string dir = [] {
        namespace q = ferris::models::qwen2;
        const std::string out = ferris::fuzz::scratch_path("models/qwen2");
        q::CreateOptions options;
        options.overwrite = true;
        q::create_random_model(out, q::preset("tiny"), options);
        return out;
    }();
    return dir;
}

const ferris::Tokenizer& tokenizer() {
    static const auto t = ferris::from_json_text(ferris::assets::qwen_tokenizer_json(), "qwen");
    return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string& dir = folder();
    const std::string_view input = fuzz::as_text(data, size);
    const size_t split = input.find('\0');
    fuzz::write_scratch("models/qwen2/config.json", input.substr(0, split));
    const std::string generation = dir + "/generation_config.json";
    std::remove(generation.c_str());
    if (split != std::string_view::npos)
        fuzz::write_scratch("models/qwen2/generation_config.json", input.substr(split + 1));
    fuzz::expect_only_ferris_errors([&] {
        const auto model = models::qwen2::Qwen2Model::load(dir, {});
        runtime::GenerateOptions options;
        options.max_tokens = 3;
        options.eos_ids = runtime::eos_token_ids(dir, model->config());
        const runtime::GenerateResult r =
            runtime::generate(*model, tokenizer(), tokenizer().encode("Hello, world"), options);
        fuzz::require(r.ids.size() <= 3, "at most max_tokens ids");
        for (int32_t id : r.ids)
            fuzz::require(id >= 0 && id < model->config().vocab_size, "ids inside the vocabulary");
        if (r.stop_reason == "eos")
            fuzz::require(std::find(options.eos_ids.begin(), options.eos_ids.end(), r.ids.back()) !=
                              options.eos_ids.end(),
                          "a stop on EOS ends with one of the EOS ids");
    });
    return 0;
}
