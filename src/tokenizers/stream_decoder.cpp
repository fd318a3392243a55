// StreamDecoder: ids in, printable UTF-8 out. Bytes of a character cut between tokens wait in
// pending_ for the next token; a sequence that can never complete becomes U+FFFD at once (one
// per maximal invalid subpart, as Python's and Rust's lossy UTF-8 decoders do).
#include <cstdint>

#include "ferris/tokenizer.h"

namespace ferris {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";

// Moves the decodable prefix of `pending` to `out`, invalid subparts replaced. An incomplete
// trailing sequence stays in `pending`, unless `final`, where it becomes U+FFFD too.
void drain(std::string& pending, std::string& out, bool final) {
    const auto* p = reinterpret_cast<const uint8_t*>(pending.data());
    size_t n = pending.size(), i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        size_t len = 0;
        uint8_t lo = 0x80, hi = 0xBF;  // valid range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {  // a continuation byte or a byte that never starts a character
            out += kReplacement;
            ++i;
            continue;
        }
        size_t k = 1;
        bool invalid = false;
        for (; k < len && i + k < n; ++k) {
            uint8_t b = p[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
                invalid = true;
                break;
            }
        }
        if (invalid) {  // bytes i .. i+k-1 are a maximal invalid subpart
            out += kReplacement;
            i += k;
            continue;
        }
        if (i + len > n) {  // incomplete so far
            if (!final) break;
            out += kReplacement;
            i = n;
            break;
        }
        out.append(pending, i, len);
        i += len;
    }
    pending.erase(0, i);
}

}  // namespace

std::string StreamDecoder::push(int32_t id) {
    if (skip_special_ && tokenizer_.is_special(id)) return {};
    pending_ += tokenizer_.token_bytes(id);
    std::string out;
    drain(pending_, out, false);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    drain(pending_, out, true);
    return out;
}

}  // namespace ferris
