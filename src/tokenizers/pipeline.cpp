// Model-independent `tokenizers` stages: UTF-8 helpers, normalizers (utf8proc), Oniguruma →
// PCRE2 pattern rewriting, regex splitting with PCRE2 JIT (match data per thread), and
// added-token matching. Each follows the `tokenizers` (Rust) function named in its comment.
#include "tokenizers/pipeline.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "ferris/error.h"

namespace ferris {

void check_max_token_id(int32_t max_id, const std::string& name) {
    if (max_id >= kMaxTokenIds)
        fail(ErrorCode::Parse, name, ": token id ", max_id, " is past the limit of ",
             kMaxTokenIds - 1, " (a vocabulary's ids run from 0 to its size - 1)");
}

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// Oniguruma's Unicode \s (the White_Space set, also Rust's char::is_whitespace) and \w
// (Letter | Mark | Number | Connector_Punctuation), as PCRE2 class bodies.
constexpr const char* kOnigSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F})"
    R"(\x{205F}\x{3000})";
constexpr const char* kOnigWord = R"(\p{L}\p{M}\p{N}\p{Pc})";

// The code point that ends at s[end] (exclusive).
uint32_t decode_before(std::string_view s, size_t end, size_t& len) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
    return utf8_decode(s, i, len);
}

bool is_white_space(uint32_t cp) {  // White_Space: Rust's char::is_whitespace and regex \s
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

// \w of Rust's `regex` crate, which single_word tokens test with `^\w` / `\w$`: Alphabetic, M,
// Nd, Pc, Join_Control. Alphabetic's Other_Alphabetic symbols are the enclosed letters below.
bool is_word_char(uint32_t cp) {
    if (cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) ||
        (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
        (cp >= 0x1F170 && cp <= 0x1F189))
        return true;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}

// Helpers of AddedVocabulary::find_matches.
bool ends_with_word(std::string_view s) {
    size_t len;
    return !s.empty() && is_word_char(decode_before(s, s.size(), len));
}
bool starts_with_word(std::string_view s) {
    size_t len;
    return !s.empty() && is_word_char(utf8_decode(s, 0, len));
}
size_t space_leftmost_at_end(std::string_view s) {  // start of the trailing whitespace run
    size_t end = s.size(), len;
    while (end > 0 && is_white_space(decode_before(s, end, len))) end -= len;
    return end;
}
size_t space_rightmost_at_start(std::string_view s) {  // length of the leading whitespace run
    size_t i = 0, len;
    while (i < s.size() && is_white_space(utf8_decode(s, i, len))) i += len;
    return i;
}

// Match data, match context and JIT stack, one set per thread (a compiled pattern is
// thread-safe, match data is not).
struct MatchScratch {
    pcre2_match_data* data = pcre2_match_data_create(16, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    MatchScratch() {
        if (!data || !context || !stack) fail(ErrorCode::OutOfMemory, "[tokenizer] PCRE2 scratch");
        pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchScratch() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch() {
    thread_local MatchScratch s;
    return s;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(code, buffer, sizeof(buffer));
    return reinterpret_cast<const char*>(buffer);
}

struct Span {
    size_t begin, end;
    bool match;
};

}  // namespace

size_t utf8_len(char lead) {
    auto c = static_cast<uint8_t>(lead);
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

uint32_t utf8_decode(std::string_view s, size_t i, size_t& len) {
    auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k])); };
    len = std::min(utf8_len(s[i]), s.size() - i);
    switch (len) {
        case 1:
            return b(0);
        case 2:
            return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
        case 3:
            return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        default:
            return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) |
                   (b(3) & 0x3F);
    }
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

size_t first_invalid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        if (i + 8 <= n) {  // eight ASCII bytes at a time
            uint64_t word;
            std::memcpy(&word, p + i, 8);
            if ((word & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = p[i];
        if (c < 0x80) {
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
        } else {
            return i;
        }
        if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < len; ++k)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return std::string_view::npos;
}

std::string replace_invalid_utf8(std::string_view s, size_t* replaced) {
    size_t count = 0;
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const size_t bad = first_invalid_utf8(s.substr(i));
        if (bad == std::string_view::npos) {
            out.append(s.substr(i));
            break;
        }
        out.append(s.substr(i, bad));
        i += bad;
        // The maximal prefix of a valid sequence becomes one U+FFFD (as Python and WHATWG do).
        const uint8_t c = p[i];
        size_t len = 1, want = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            want = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            want = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            want = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        }
        if (want && i + 1 < n && p[i + 1] >= lo && p[i + 1] <= hi) {
            len = 2;
            while (len < want && i + len < n && (p[i + len] & 0xC0) == 0x80) ++len;
        }
        out.append("\xEF\xBF\xBD");
        ++count;
        i += len;
    }
    if (replaced) *replaced = count;
    return out;
}

bool apply_normalizer(NormalizerKind kind, std::string_view text, std::string& out) {
    auto below = [&](uint8_t limit) {
        return std::all_of(text.begin(), text.end(),
                           [limit](char c) { return static_cast<uint8_t>(c) < limit; });
    };
    int options = UTF8PROC_STABLE;
    switch (kind) {
        case NormalizerKind::Nfc:
            // Code points below U+0300 (lead bytes < 0xCC) are NFC and never compose.
            if (below(0xCC)) return false;
            options |= UTF8PROC_COMPOSE;
            break;
        case NormalizerKind::Nfd:
            if (below(0x80)) return false;
            options |= UTF8PROC_DECOMPOSE;
            break;
        case NormalizerKind::Nfkc:
            if (below(0x80)) return false;
            options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            break;
        case NormalizerKind::Nfkd:
            if (below(0x80)) return false;
            options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            break;
        case NormalizerKind::Lowercase: {  // Rust's char::to_lowercase, one char at a time
            std::string lowered;
            lowered.reserve(text.size());
            size_t len;
            for (size_t i = 0; i < text.size(); i += len) {
                uint32_t cp = utf8_decode(text, i, len);
                if (cp == 0x130) {
                    lowered += "i\xCC\x87";  // İ → i + U+0307 (SpecialCasing.txt)
                } else {
                    auto lower = utf8proc_tolower(static_cast<utf8proc_int32_t>(cp));
                    utf8_append(lowered, static_cast<uint32_t>(lower));
                }
            }
            if (lowered == text) return false;
            out = std::move(lowered);
            return true;
        }
    }
    utf8proc_uint8_t* mapped = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                      static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                      static_cast<utf8proc_option_t>(options));
    if (n < 0) fail(ErrorCode::InvalidArgument, "[tokenizer] normalizer: ", utf8proc_errmsg(n));
    out.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return true;
}

std::string onig_to_pcre2(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size() + 64);
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            char e = pattern[++i];
            if (e == 's' || e == 'w') {
                std::string body = e == 's' ? kOnigSpace : kOnigWord;
                out += in_class ? body : "[" + body + "]";
            } else if ((e == 'S' || e == 'W') && !in_class) {
                out += "[^" + std::string(e == 'S' ? kOnigSpace : kOnigWord) + "]";
            } else {  // \S or \W inside a class keeps PCRE2's meaning (no class subtraction)
                out.push_back('\\');
                out.push_back(e);
            }
            continue;
        }
        out.push_back(c);
        if (!in_class && c == '[') {
            in_class = true;
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
        } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
            size_t close = pattern.find(":]", i + 2);  // POSIX class such as [:alpha:]
            if (close != std::string_view::npos) {
                out.append(pattern.substr(i + 1, close + 1 - i));
                i = close + 1;
            }
        } else if (in_class && c == ']') {
            in_class = false;
        }
    }
    return out;
}

struct Regex::Code {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, bool literal, const std::string& name)
    : code_(std::make_unique<Code>()) {
    std::string source = literal ? pattern : onig_to_pcre2(pattern);
    uint32_t options = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options,
                                &error, &offset, nullptr);
    if (!code_->code)
        fail(ErrorCode::Parse, name, ": pre-tokenizer pattern '", pattern,
             "' does not compile (PCRE2, offset ", offset, "): ", pcre2_message(error));
    code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

// Calls on_match(begin, end) for each match, left to right, as Oniguruma's find_iter does
// (after an empty match the search resumes one character later).
template <typename OnMatch>
void Regex::for_each_match(std::string_view text, OnMatch&& on_match) const {
    MatchScratch& s = scratch();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;
    while (start <= text.size()) {
        int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), start, 0, s.data,
                                              s.context)
                            : pcre2_match(code_->code, subject, text.size(), start,
                                          PCRE2_NO_UTF_CHECK, s.data, s.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
            fail(ErrorCode::InvalidArgument, "[tokenizer] pre-tokenizer regex failed on ",
                 text.size(), " bytes: ", pcre2_message(rc));
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
        size_t b = ovector[0], e = ovector[1];
        on_match(b, e);
        if (e > b) {
            start = e;
        } else {
            if (b >= text.size()) break;
            start = b + utf8_len(text[b]);
        }
    }
}

void Regex::split(std::string_view text, SplitBehavior behavior, bool invert,
                  std::vector<std::string_view>& out) const {
    if (text.empty()) return;
    if (behavior == SplitBehavior::Isolated) {  // the common case: no span list needed
        size_t prev = 0;
        for_each_match(text, [&](size_t b, size_t e) {
            if (b > prev) out.push_back(text.substr(prev, b - prev));
            if (e > b) out.push_back(text.substr(b, e - b));
            prev = e;
        });
        if (prev < text.size()) out.push_back(text.substr(prev));
        return;
    }
    std::vector<Span> spans;
    size_t prev = 0;
    for_each_match(text, [&](size_t b, size_t e) {
        if (b != prev) spans.push_back({prev, b, false});
        spans.push_back({b, e, true});
        prev = e;
    });
    if (prev != text.size()) spans.push_back({prev, text.size(), false});
    if (invert)
        for (Span& s : spans) s.match = !s.match;
    std::vector<Span> merged;
    bool previous_match = false;
    switch (behavior) {
        case SplitBehavior::Removed:
            for (const Span& s : spans)
                if (!s.match) merged.push_back(s);
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const Span& s : spans) {
                if (s.match && !previous_match && !merged.empty())
                    merged.back().end = s.end;
                else
                    merged.push_back(s);
                previous_match = s.match;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
                if (it->match && !previous_match && !merged.empty())
                    merged.back().begin = it->begin;
                else
                    merged.push_back(*it);
                previous_match = it->match;
            }
            std::reverse(merged.begin(), merged.end());
            break;
        case SplitBehavior::Contiguous:
            for (const Span& s : spans) {
                if (s.match == previous_match && !merged.empty())
                    merged.back().end = s.end;
                else
                    merged.push_back(s);
                previous_match = s.match;
            }
            break;
        case SplitBehavior::Isolated:
            merged = spans;
            break;
    }
    for (const Span& s : merged)
        if (s.end > s.begin) out.push_back(text.substr(s.begin, s.end - s.begin));
}

void AddedMatcher::add(std::string_view content, const AddedToken* token) {
    if (content.empty()) return;
    int32_t node = 0;
    for (char ch : content) {
        auto byte = static_cast<uint8_t>(ch);
        int32_t next = child(node, byte);
        if (next < 0) {
            next = static_cast<int32_t>(nodes_.size());
            nodes_[static_cast<size_t>(node)].children.emplace_back(byte, next);
            nodes_.emplace_back();
        }
        node = next;
    }
    if (nodes_[static_cast<size_t>(node)].token < 0) {
        nodes_[static_cast<size_t>(node)].token = static_cast<int32_t>(tokens_.size());
        tokens_.push_back(token);
    }
}

int32_t AddedMatcher::child(int32_t node, uint8_t byte) const {
    for (const auto& [b, next] : nodes_[static_cast<size_t>(node)].children)
        if (b == byte) return next;
    return -1;
}

// The leftmost, then longest, match starting at or after `from`.
bool AddedMatcher::find(std::string_view text, size_t from, size_t& begin, size_t& end,
                        const AddedToken*& token) const {
    for (size_t pos = from; pos < text.size(); ++pos) {
        int32_t node = child(0, static_cast<uint8_t>(text[pos]));
        int32_t best = -1;
        for (size_t i = pos + 1; node >= 0; ++i) {
            if (nodes_[static_cast<size_t>(node)].token >= 0) {
                best = nodes_[static_cast<size_t>(node)].token;
                end = i;
            }
            if (i == text.size()) break;
            node = child(node, static_cast<uint8_t>(text[i]));
        }
        if (best >= 0) {
            begin = pos;
            token = tokens_[static_cast<size_t>(best)];
            return true;
        }
    }
    return false;
}

void AddedMatcher::split(std::string_view text, std::vector<AddedSplit>& out) const {
    out.clear();
    if (empty() || text.empty()) {
        if (!text.empty()) out.push_back({text, -1});
        return;
    }
    size_t start_offset = 0, search = 0, begin = 0, end = 0;
    const AddedToken* token = nullptr;
    while (search < text.size() && find(text, search, begin, end, token)) {
        search = end;  // the automaton resumes after a match even when the match is dropped
        size_t start = begin, stop = end;
        if (token->single_word) {
            bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
            bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
            if (!start_space || !stop_space) continue;
        }
        if (token->lstrip)
            start = std::max(space_leftmost_at_end(text.substr(0, start)), start_offset);
        if (token->rstrip) stop += space_rightmost_at_start(text.substr(stop));
        if (start_offset < start)
            out.push_back({text.substr(start_offset, start - start_offset), -1});
        out.push_back({text.substr(start, stop - start), token->id});
        start_offset = stop;
    }
    if (start_offset < text.size()) out.push_back({text.substr(start_offset), -1});
}

}  // namespace ferris
