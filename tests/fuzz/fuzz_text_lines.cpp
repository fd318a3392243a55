// An input file of any bytes read as `embed --input` and `search --corpus` read it: one text a
// line, blank lines skipped, invalid UTF-8 replaced. Every text must come out valid UTF-8, without
// a line break, with line numbers that rise.
#include <cstdint>

#include "embed_common.h"
#include "fuzz_target.h"

namespace {

// Written here rather than calling first_invalid_utf8: the repair under test uses that one.
bool valid_utf8(const std::string& s) {
    static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};  // shortest form for n bytes more
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const int n = c < 0x80           ? 0
                      : (c >> 5) == 0x6  ? 1
                      : (c >> 4) == 0xe  ? 2
                      : (c >> 3) == 0x1e ? 3
                                         : -1;
        if (n < 0 || i + n >= s.size()) return false;
        uint32_t cp = c & (0x7f >> n);
        for (int k = 1; k <= n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d >> 6) != 2) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string path = fuzz::write_scratch("input.txt", fuzz::as_text(data, size));
    fuzz::expect_only_ferris_errors([&] {
        int64_t skipped = 0;
        int64_t last_line = 0;
        for (const cli::InputLine& line : cli::read_lines(path, &skipped)) {
            fuzz::require(valid_utf8(line.text), "a text is valid UTF-8");
            fuzz::require(line.text.find('\n') == std::string::npos, "no line break in a text");
            fuzz::require(line.line > last_line, "line numbers rise");
            last_line = line.line;
        }
        fuzz::require(skipped >= 0, "a count of blank lines");
    });
    return 0;
}
