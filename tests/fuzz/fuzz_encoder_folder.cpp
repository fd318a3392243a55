// A sentence encoder's config.json of any bytes, beside the weights, tokenizer and
// sentence-transformers files of a tiny random BERT and a tiny random MPNet (create-model's
// "tiny" preset): EmbeddingModel::from_dir() must either refuse the folder (the config against
// the weights' shapes, unknown options) or embed texts into finite vectors of the config's width,
// of length 1 where normalized.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ferris/embedding_model.h"
#include "fuzz_target.h"
#include "models/encoder/create.h"

namespace {

// The two folders' names in the scratch folder, made once a process and kept between inputs.
const std::vector<std::string>& folders() {
    static const std::vector<std::string> names = [] {
        namespace enc = ferris::models::encoder;
        std::vector<std::string> out;
        for (enc::Arch arch : {enc::Arch::Bert, enc::Arch::MPNet}) {
            const std::string name = std::string("models/") + enc::arch_name(arch);
            enc::CreateOptions options;
            options.overwrite = true;
            enc::create_random_encoder(ferris::fuzz::scratch_path(name), enc::preset(arch, "tiny"),
                                       options);
            out.push_back(name);
        }
        return out;
    }();
    return names;
}

// An empty text, a short one, and one past any maximum length the tiny presets allow.
const std::vector<std::string>& texts() {
    static const std::vector<std::string> t = [] {
        std::string long_text;
        for (int k = 0; k < 600; ++k) long_text += "word ";
        return std::vector<std::string>{"", "a short text", long_text};
    }();
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    for (const std::string& name : folders()) {
        fuzz::write_scratch(name + "/config.json", fuzz::as_text(data, size));
        fuzz::expect_only_ferris_errors([&] {
            const EmbeddingModel model = EmbeddingModel::from_dir(fuzz::scratch_path(name));
            const Tensor v = model.encode(texts());
            fuzz::require(v.dim() == 2 && v.size(0) == 3 && v.size(1) == model.dim(),
                          "one row a text, the model's width");
            const std::vector<float> values = v.to_floats();
            for (int64_t i = 0; i < 3; ++i) {
                double norm = 0;
                for (int64_t j = 0; j < model.dim(); ++j) {
                    const float x = values[static_cast<size_t>(i * model.dim() + j)];
                    fuzz::require(std::isfinite(x), "finite values");
                    norm += double(x) * x;
                }
                if (model.normalize())
                    fuzz::require(std::abs(std::sqrt(norm) - 1) < 1e-4, "unit vectors");
            }
        });
    }
    return 0;
}
