// WordPieceTokenizer: BertNormalizer, BertPreTokenizer, the WordPiece model and decoder, and the
// bare vocab.txt loader. Each stage follows the `tokenizers` (Rust) function named in its comment
// so that ids match it exactly; ASCII text takes fast paths that give the same result.
#include "tokenizers/wordpiece.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "ferris/error.h"
#include "tokenizers/bpe.h"

namespace ferris {
namespace {

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}

bool is_continuation_byte(std::string_view s, size_t i) {
    return i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80;
}

// BertNormalizer on ASCII text: clean_text drops the C0 controls and DEL and turns \t \n \r
// into spaces, lowercase maps A-Z; CJK and accents do not occur.
bool bert_normalize_ascii(const BertNormalizerOptions& options, std::string_view text,
                          std::string& out) {
    auto changes = [&](char c) {
        auto b = static_cast<uint8_t>(c);
        if (options.clean_text && (b < 0x20 || b == 0x7F)) return true;
        return options.lowercase && b >= 'A' && b <= 'Z';
    };
    if (std::none_of(text.begin(), text.end(), changes)) return false;
    std::string result;
    result.reserve(text.size());
    for (char c : text) {
        auto b = static_cast<uint8_t>(c);
        if (options.clean_text && (b < 0x20 || b == 0x7F)) {
            if (c == '\t' || c == '\n' || c == '\r') result.push_back(' ');
            continue;
        }
        if (options.lowercase && b >= 'A' && b <= 'Z') c = static_cast<char>(b + ('a' - 'A'));
        result.push_back(c);
    }
    out = std::move(result);
    return true;
}

// BertNormalizer::do_clean_text: drop U+0000, U+FFFD and controls, whitespace → ' '.
void clean_text(std::string_view text, std::string& out) {
    out.clear();
    size_t len;
    for (size_t i = 0; i < text.size(); i += len) {
        uint32_t cp = utf8_decode(text, i, len);
        if (cp == 0 || cp == 0xFFFD || bert_is_control(cp)) continue;
        if (bert_is_whitespace(cp))
            out.push_back(' ');
        else
            out.append(text, i, len);
    }
}

// BertNormalizer::do_handle_chinese_chars: a space on each side of every CJK ideograph.
void space_chinese_chars(std::string_view text, std::string& out) {
    out.clear();
    size_t len;
    for (size_t i = 0; i < text.size(); i += len) {
        uint32_t cp = utf8_decode(text, i, len);
        bool cjk = bert_is_chinese_char(cp);
        if (cjk) out.push_back(' ');
        out.append(text, i, len);
        if (cjk) out.push_back(' ');
    }
}

// tokenizers' decoders::wordpiece::cleanup, applied to each token.
void cleanup(std::string& s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (const auto& [from, to] : kRules) {
        std::string_view f = from, t = to;
        size_t pos = s.find(f);
        if (pos == std::string::npos) continue;
        std::string replaced;
        size_t last = 0;
        for (; pos != std::string::npos; pos = s.find(f, last)) {
            replaced.append(s, last, pos - last).append(t);
            last = pos + f.size();
        }
        replaced.append(s, last);
        s.swap(replaced);
    }
}

}  // namespace

bool strip_accents(std::string_view text, std::string& out) {
    if (is_ascii(text)) return false;
    // NFD of `unicode-normalization-alignments` (Unicode 12 data) leaves U+11938 whole, which
    // utf8proc decomposes; as a starter it splits the text into independent NFD runs.
    constexpr std::string_view kU11938 = "\xF0\x91\xA4\xB8";
    std::string decomposed, run;
    for (size_t start = 0; start <= text.size();) {
        size_t stop = std::min(text.find(kU11938, start), text.size());
        std::string_view part = text.substr(start, stop - start);
        decomposed.append(apply_normalizer(NormalizerKind::Nfd, part, run) ? std::string_view(run)
                                                                           : part);
        if (stop == text.size()) break;
        decomposed.append(kU11938);
        start = stop + kU11938.size();
    }
    std::string_view view = decomposed;
    std::string result;
    result.reserve(view.size());
    size_t len;
    for (size_t i = 0; i < view.size(); i += len) {
        uint32_t cp = utf8_decode(view, i, len);
        if (!bert_is_nonspacing_mark(cp)) result.append(view, i, len);
    }
    if (result == text) return false;
    out = std::move(result);
    return true;
}

bool lowercase(std::string_view text, std::string& out) {
    std::string result;
    result.reserve(text.size());
    size_t len;
    for (size_t i = 0; i < text.size(); i += len) {
        uint32_t cp = utf8_decode(text, i, len);
        if (cp == 0x130)
            result += "i\xCC\x87";  // İ → i + U+0307 (SpecialCasing.txt)
        else
            utf8_append(result,
                        cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp) : bert_to_lower(cp));
    }
    if (result == text) return false;
    out = std::move(result);
    return true;
}

// BertNormalizer::normalize: clean_text, handle_chinese_chars, strip_accents, lowercase.
bool bert_normalize(const BertNormalizerOptions& options, std::string_view text, std::string& out) {
    if (is_ascii(text)) return bert_normalize_ascii(options, text, out);
    std::string current(text), next;
    if (options.clean_text) {
        clean_text(current, next);
        current.swap(next);
    }
    if (options.handle_chinese_chars) {
        space_chinese_chars(current, next);
        current.swap(next);
    }
    if (options.strip_accents.value_or(options.lowercase) && strip_accents(current, next))
        current.swap(next);
    if (options.lowercase && lowercase(current, next)) current.swap(next);
    if (current == text) return false;
    out = std::move(current);
    return true;
}

// BertPreTokenizer: split on char::is_whitespace (Removed), then on BERT punctuation (Isolated).
void bert_pre_tokenize(std::string_view text, std::vector<std::string_view>& out) {
    enum : uint8_t { kOther, kSpace, kPunct };
    static const auto kAscii = [] {
        std::array<uint8_t, 128> table{};
        for (uint32_t c = 0; c < 128; ++c)
            table[c] = bert_is_whitespace(c) ? kSpace : bert_is_punctuation(c) ? kPunct : kOther;
        return table;
    }();
    size_t word = std::string_view::npos;  // start of the current word
    auto flush = [&](size_t end) {
        if (word != std::string_view::npos) out.push_back(text.substr(word, end - word));
        word = std::string_view::npos;
    };
    size_t len = 1;
    for (size_t i = 0; i < text.size(); i += len) {
        auto b = static_cast<uint8_t>(text[i]);
        uint8_t kind;
        if (b < 0x80) {
            len = 1;
            kind = kAscii[b];
        } else {
            uint32_t cp = utf8_decode(text, i, len);
            kind = bert_is_whitespace(cp) ? kSpace : bert_is_punctuation(cp) ? kPunct : kOther;
        }
        if (kind == kOther) {
            if (word == std::string_view::npos) word = i;
            continue;
        }
        flush(i);
        if (kind == kPunct) out.push_back(text.substr(i, len));
    }
    flush(text.size());
}

void WordPieceTokenizer::Table::insert(std::string_view key, int32_t id) {
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    size_t mask = slots_.size() - 1;
    size_t i = std::hash<std::string_view>{}(key)&mask;
    for (; slots_[i] >= 0; i = (i + 1) & mask) {
        auto& entry = entries_[static_cast<size_t>(slots_[i])];
        if (entry.first == key) {
            entry.second = id;
            return;
        }
    }
    slots_[i] = static_cast<int32_t>(entries_.size());
    entries_.emplace_back(std::string(key), id);
    max_key_size_ = std::max(max_key_size_, key.size());
}

void WordPieceTokenizer::Table::grow() {
    slots_.assign(std::max<size_t>(64, slots_.size() * 2), -1);
    size_t mask = slots_.size() - 1;
    for (size_t k = 0; k < entries_.size(); ++k) {
        size_t i = std::hash<std::string_view>{}(entries_[k].first) & mask;
        while (slots_[i] >= 0) i = (i + 1) & mask;
        slots_[i] = static_cast<int32_t>(k);
    }
}

int32_t WordPieceTokenizer::Table::find(std::string_view key) const {
    if (slots_.empty()) return -1;
    size_t mask = slots_.size() - 1;
    for (size_t i = std::hash<std::string_view>{}(key)&mask;; i = (i + 1) & mask) {
        int32_t slot = slots_[i];
        if (slot < 0) return -1;
        const auto& entry = entries_[static_cast<size_t>(slot)];
        if (entry.first == key) return entry.second;
    }
}

WordPieceTokenizer::WordPieceTokenizer(WordPieceConfig config)
    : name_(std::move(config.name)),
      unk_token_(std::move(config.unk_token)),
      prefix_(std::move(config.continuing_subword_prefix)),
      normalizers_(std::move(config.normalizers)),
      bert_pre_tokenizer_(config.bert_pre_tokenizer),
      added_tokens_(std::move(config.added_tokens)),
      single_template_(std::move(config.single_template)),
      decoder_wordpiece_(config.decoder_wordpiece),
      decoder_prefix_(std::move(config.decoder_prefix)),
      decoder_cleanup_(config.decoder_cleanup),
      max_length_(config.max_length) {
    if (config.max_input_chars_per_word < 0)
        fail(ErrorCode::Parse, name_,
             ": model.max_input_chars_per_word = ", config.max_input_chars_per_word, " < 0");
    max_chars_ = static_cast<size_t>(config.max_input_chars_per_word);
    int32_t max_id = -1;
    for (const auto& [token, id] : config.vocab) {
        if (id < 0) fail(ErrorCode::Parse, name_, ": model.vocab['", token, "'] = ", id, " < 0");
        max_id = std::max(max_id, id);
        words_.insert(token, id);
        if (token.compare(0, prefix_.size(), prefix_) == 0)
            continuations_.insert(std::string_view(token).substr(prefix_.size()), id);
    }
    for (const AddedToken& t : added_tokens_) {
        if (t.id < 0) fail(ErrorCode::Parse, name_, ": added token '", t.content, "' has id < 0");
        max_id = std::max(max_id, t.id);
    }
    check_max_token_id(max_id, name_);
    vocab_size_ = max_id + 1;
    id_to_string_.resize(static_cast<size_t>(vocab_size_));
    for (auto& [token, id] : config.vocab)
        if (words_.find(token) == id) id_to_string_[static_cast<size_t>(id)] = std::move(token);
    unk_id_ = words_.find(unk_token_);

    // Added tokens, as in BpeTokenizer: normalized=false ones are matched in the raw text, the
    // others in the normalized text with their content normalized the same way.
    id_to_added_.assign(static_cast<size_t>(vocab_size_), -1);
    special_.assign(static_cast<size_t>(vocab_size_), 0);
    std::unordered_set<std::string> special_contents;
    for (size_t k = 0; k < added_tokens_.size(); ++k) {
        const AddedToken& t = added_tokens_[k];
        id_to_added_[static_cast<size_t>(t.id)] = static_cast<int32_t>(k);
        added_by_content_.emplace(t.content, t.id);
        if (t.special) special_contents.insert(t.content);
    }
    for (AddedToken& t : added_tokens_) {
        if (!t.normalized) {
            raw_added_.add(t.content, &t);
            continue;
        }
        std::string normalized;
        if (normalize(t.content, normalized)) t.content.swap(normalized);
        normalized_added_.add(t.content, &t);
    }
    for (const AddedToken& t : added_tokens_)
        special_[static_cast<size_t>(t.id)] = special_contents.count(t.content) > 0 ? 1 : 0;
}

bool WordPieceTokenizer::normalize(std::string_view text, std::string& out) const {
    std::string current, next;
    std::string_view view = text;
    bool changed = false;
    for (const WordPieceNormalizer& n : normalizers_) {
        bool step = false;
        switch (n.kind) {
            case WordPieceNormalizer::Kind::Bert:
                step = bert_normalize(n.bert, view, next);
                break;
            case WordPieceNormalizer::Kind::Unicode:
                step = n.unicode == NormalizerKind::Lowercase
                           ? lowercase(view, next)
                           : apply_normalizer(n.unicode, view, next);
                break;
            case WordPieceNormalizer::Kind::StripAccents:
                step = strip_accents(view, next);
                break;
        }
        if (step) {
            current.swap(next);
            view = current;
            changed = true;
        }
    }
    if (changed) out = std::move(current);
    return changed;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool add_special) const {
    return encode_with_added_tokens(
        text, add_special, name_, raw_added_, normalized_added_, single_template_,
        [this](std::string_view in, std::string& out) { return normalize(in, out); },
        [this](std::string_view in, std::vector<int32_t>& ids) { encode_normalized(in, ids); });
}

void WordPieceTokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    if (!bert_pre_tokenizer_) {
        word_piece(text, ids);
        return;
    }
    thread_local std::vector<std::string_view> words;
    words.clear();
    bert_pre_tokenize(text, words);
    for (std::string_view word : words) word_piece(word, ids);
}

int32_t WordPieceTokenizer::unk_id() const {
    if (unk_id_ < 0)
        fail(ErrorCode::InvalidArgument, "[tokenizer] ", name_, ": unk token '", unk_token_,
             "' is not in the vocabulary");
    return unk_id_;
}

// WordPiece::tokenize: greedy longest match from the left, "##" pieces after the first; a word
// with a piece that matches nothing, or longer than max_input_chars_per_word, is one unk.
// Candidates longer than the longest vocabulary entry are skipped: they cannot match.
void WordPieceTokenizer::word_piece(std::string_view word, std::vector<int32_t>& ids) const {
    if (word.size() > max_chars_) {
        size_t chars = 0;
        for (size_t i = 0; i < word.size(); ++i) chars += is_continuation_byte(word, i) ? 0 : 1;
        if (chars > max_chars_) {
            ids.push_back(unk_id());
            return;
        }
    }
    size_t before = ids.size();
    for (size_t start = 0; start < word.size();) {
        const Table& table = start == 0 ? words_ : continuations_;
        size_t end = std::min(word.size(), start + table.max_key_size());
        while (end > start && is_continuation_byte(word, end)) --end;
        int32_t id = -1;
        while (end > start) {
            id = table.find(word.substr(start, end - start));
            if (id >= 0) break;
            do --end;
            while (end > start && is_continuation_byte(word, end));
        }
        if (id < 0) {
            ids.resize(before);
            ids.push_back(unk_id());
            return;
        }
        ids.push_back(id);
        start = end;
    }
}

std::string_view WordPieceTokenizer::token_string(int32_t id) const {
    if (id < 0 || id >= vocab_size_) return {};
    if (int32_t k = id_to_added_[static_cast<size_t>(id)]; k >= 0)
        return added_tokens_[static_cast<size_t>(k)].content;
    return id_to_string_[static_cast<size_t>(id)];
}

std::string WordPieceTokenizer::token_bytes(int32_t id) const {
    std::string_view token = token_string(id);
    if (decoder_wordpiece_ && !decoder_prefix_.empty() &&
        token.compare(0, decoder_prefix_.size(), decoder_prefix_) == 0)
        token.remove_prefix(decoder_prefix_.size());
    return std::string(token);
}

// Tokenizer::decode with decoders::WordPiece: a token after the first gets a space before it
// unless it starts with the prefix (then dropped); cleanup rules apply to each token.
std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::string out, piece;
    bool first = true;
    for (int32_t id : ids) {
        if (id < 0 || id >= vocab_size_) continue;
        if (skip_special && special_[static_cast<size_t>(id)]) continue;
        std::string_view token = token_string(id);
        if (!decoder_wordpiece_) {  // no decoder: `tokenizers` joins the tokens with spaces
            if (!first) out.push_back(' ');
            out.append(token);
            first = false;
            continue;
        }
        piece.clear();
        if (!first) {
            if (token.compare(0, decoder_prefix_.size(), decoder_prefix_) == 0)
                token.remove_prefix(decoder_prefix_.size());
            else
                piece.push_back(' ');
        }
        piece.append(token);
        if (decoder_cleanup_) cleanup(piece);
        out += piece;
        first = false;
    }
    return out;
}

std::optional<int32_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
    if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end())
        return it->second;
    if (int32_t id = words_.find(token); id >= 0) return id;
    return std::nullopt;
}

std::string WordPieceTokenizer::id_to_token(int32_t id) const {
    return std::string(token_string(id));
}

bool WordPieceTokenizer::is_special(int32_t id) const {
    return id >= 0 && id < vocab_size_ && special_[static_cast<size_t>(id)];
}

namespace {

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) fail(ErrorCode::Io, path, ": no such file");
        fail(ErrorCode::Io, path, ": cannot open for reading");
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail(ErrorCode::Io, path, ": read error");
    return text;
}

// A special token of tokenizer_config.json: a string or an AddedToken object {"content": ...}.
std::optional<std::string> config_token(const nlohmann::json& config, const char* key,
                                        const std::string& name) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
    fail(ErrorCode::Parse, name, ": ", key, ": expected a string or {\"content\": ...}, got ",
         it->type_name());
}

bool config_bool(const nlohmann::json& object, const char* key, bool fallback,
                 const std::string& name) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean())
        fail(ErrorCode::Parse, name, ": ", key, ": expected true or false, got ", it->type_name());
    return it->get<bool>();
}

}  // namespace

// BertTokenizer(vocab_file) as transformers converts it (BertConverter): the vocabulary one token
// a line ("\r\n" ends a line too), the tokenizer_config.json options, the special tokens as
// added tokens (normalized=false), template "[CLS] $A [SEP]", the WordPiece decoder.
std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_txt(const std::string& path) {
    namespace fs = std::filesystem;
    using nlohmann::json;
    std::string text = read_text_file(path);
    if (size_t bad = first_invalid_utf8(text); bad != std::string::npos)
        fail(ErrorCode::Parse, path, ": not valid UTF-8 (byte offset ", bad, ")");
    WordPieceConfig config;
    config.name = path;
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        size_t next = end == std::string::npos ? text.size() : end + 1;
        if (end == std::string::npos) end = text.size();
        if (end > start && text[end - 1] == '\r') --end;
        config.vocab.emplace_back(text.substr(start, end - start),
                                  static_cast<int32_t>(config.vocab.size()));
        start = next;
    }
    if (config.vocab.empty()) fail(ErrorCode::Parse, path, ": the vocabulary is empty");

    json options = json::object();
    std::string config_path = (fs::path(path).parent_path() / "tokenizer_config.json").string();
    std::error_code ec;
    if (fs::exists(config_path, ec)) {
        try {
            options = json::parse(read_text_file(config_path));
        } catch (const json::exception& e) {
            fail(ErrorCode::Parse, config_path, ": not valid JSON: ", e.what());
        }
        if (!options.is_object())
            fail(ErrorCode::Parse, config_path, ": expected a JSON object, got ",
                 options.type_name());
    }
    WordPieceNormalizer bert;
    bert.bert.lowercase = config_bool(options, "do_lower_case", true, config_path);
    bert.bert.handle_chinese_chars =
        config_bool(options, "tokenize_chinese_chars", true, config_path);
    if (options.contains("strip_accents") && !options["strip_accents"].is_null())
        bert.bert.strip_accents = config_bool(options, "strip_accents", false, config_path);
    config.normalizers.push_back(bert);
    auto model_max = options.find("model_max_length");  // 1e30 means "none" in transformers
    if (model_max != options.end() && model_max->is_number_integer() &&
        model_max->get<int64_t>() > 0 && model_max->get<int64_t>() <= 1000000)
        config.max_length = model_max->get<int64_t>();

    std::unordered_map<std::string, int32_t> ids;
    for (const auto& [token, id] : config.vocab) ids[token] = id;
    std::unordered_set<int32_t> added_ids;
    auto decoder = options.find("added_tokens_decoder");  // transformers >= 4.34
    if (decoder != options.end() && decoder->is_object()) {
        for (const auto& [key, value] : decoder->items()) {
            std::string where = "added_tokens_decoder['" + key + "']";
            AddedToken t;
            try {
                t.id = std::stoi(key);
                t.content = value.at("content").get<std::string>();
            } catch (const std::exception&) {
                fail(ErrorCode::Parse, config_path, ": ", where,
                     ": expected an integer key and a string \"content\"");
            }
            t.special = config_bool(value, "special", false, config_path);
            t.single_word = config_bool(value, "single_word", false, config_path);
            t.lstrip = config_bool(value, "lstrip", false, config_path);
            t.rstrip = config_bool(value, "rstrip", false, config_path);
            t.normalized = config_bool(value, "normalized", !t.special, config_path);
            if (t.id < 0) fail(ErrorCode::Parse, config_path, ": ", where, ": id < 0");
            ids.emplace(t.content, t.id);
            added_ids.insert(t.id);
            config.added_tokens.push_back(std::move(t));
        }
    }
    std::string specials[5];  // transformers' order: unk sep pad cls mask
    const char* keys[5] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
    const char* defaults[5] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    for (int k = 0; k < 5; ++k) {
        specials[k] = config_token(options, keys[k], config_path).value_or(defaults[k]);
        auto it = ids.find(specials[k]);
        if (it == ids.end() || added_ids.count(it->second)) continue;
        AddedToken t;
        t.id = it->second;
        t.content = specials[k];
        t.special = true;
        t.normalized = false;
        added_ids.insert(t.id);
        config.added_tokens.push_back(std::move(t));
    }
    std::sort(config.added_tokens.begin(), config.added_tokens.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    config.unk_token = specials[0];
    for (int k : {3, 1}) {  // cls, sep
        auto it = ids.find(specials[k]);
        if (it == ids.end())
            fail(ErrorCode::Parse, path, ": ", keys[k], " '", specials[k],
                 "' is not in the vocabulary");
        config.single_template.push_back(it->second);
        if (k == 3) config.single_template.push_back(kSequenceSlot);
    }
    return std::make_unique<WordPieceTokenizer>(std::move(config));
}

int64_t WordPieceTokenizer::num_special_tokens() const {
    int64_t n = 0;
    for (int32_t id : single_template_) n += id != kSequenceSlot;
    return n;
}

std::vector<int32_t> WordPieceTokenizer::add_special_tokens(const std::vector<int32_t>& ids) const {
    return single_template_.empty() ? ids : apply_template(single_template_, ids);
}

}  // namespace ferris
