// A sentence-transformers folder's three files of any bytes (modules.json, 1_Pooling/config.json,
// sentence_bert_config.json; the input split at NUL bytes, an empty part leaves its file out):
// read_sentence_config() either refuses them or gives a pooling, a normalization and a length.
#include <cstdint>

#include "fuzz_target.h"
#include "runtime/sentence_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string dir = fuzz::fresh_scratch_dir();
    static const char* const files[] = {"modules.json", "1_Pooling/config.json",
                                        "sentence_bert_config.json"};
    std::string_view rest = fuzz::as_text(data, size);
    for (const char* file : files) {
        const size_t end = rest.find('\0');
        const std::string_view part = rest.substr(0, end);
        if (!part.empty()) fuzz::write_scratch(file, part);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    fuzz::expect_only_ferris_errors([&] {
        const runtime::SentenceConfig c = runtime::read_sentence_config(dir);
        if (c.max_seq_length) fuzz::require(*c.max_seq_length > 0, "a positive max_seq_length");
    });
    return 0;
}
