// Tokenizer::from_file and from_json_text: reads a Hugging Face tokenizer.json into a BpeConfig or
// WordPieceConfig by model.type (a folder with only vocab.txt loads as WordPiece). A SAX pass
// streams model.vocab / model.merges into vectors (a full nlohmann DOM of Qwen's 7 MB file takes
// a second); the rest is a small DOM. A malformed or missing field is one Parse error naming the
// file and JSON path; unknown types are Unsupported.
#include "tokenizers/tokenizer_json.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ferris/error.h"
#include "tokenizers/bpe.h"
#include "tokenizers/wordpiece.h"

namespace ferris {
namespace {

using nlohmann::json;

// Typed access to JSON fields with errors that name the file and the field's path.
class Reader {
public:
    explicit Reader(const std::string& name) : name_(name) {}

    template <typename... Parts>
    [[noreturn]] void bad(const std::string& path, const Parts&... parts) const {
        fail(ErrorCode::Parse, name_, ": ", path, ": ", parts...);
    }

    const json& member(const json& object, const char* key, const std::string& path) const {
        if (!object.is_object()) bad(path, "expected an object, got ", object.type_name());
        auto it = object.find(key);
        if (it == object.end()) bad(path + "." + key, "missing");
        return *it;
    }
    // Null when absent.
    const json& optional(const json& object, const char* key) const {
        static const json kNull;
        auto it = object.find(key);
        return it == object.end() ? kNull : *it;
    }
    std::string string(const json& value, const std::string& path) const {
        if (!value.is_string()) bad(path, "expected a string, got ", value.type_name());
        return value.get<std::string>();
    }
    std::optional<std::string> string_or_null(const json& object, const char* key,
                                              const std::string& path) const {
        const json& value = optional(object, key);
        if (value.is_null()) return std::nullopt;
        return string(value, path + "." + key);
    }
    bool boolean(const json& object, const char* key, const std::string& path,
                 bool fallback) const {
        const json& value = optional(object, key);
        if (value.is_null()) return fallback;
        if (!value.is_boolean())
            bad(path + "." + key, "expected true or false, got ", value.type_name());
        return value.get<bool>();
    }
    int32_t id(const json& value, const std::string& path) const {
        if (!value.is_number_integer())
            bad(path, "expected an integer id, got ", value.type_name());
        auto v = value.get<int64_t>();
        if (v < 0 || v > INT32_MAX) bad(path, "id ", v, " is out of range");
        return static_cast<int32_t>(v);
    }
    const json& array(const json& value, const std::string& path) const {
        if (!value.is_array()) bad(path, "expected an array, got ", value.type_name());
        return value;
    }
    std::string type(const json& object, const std::string& path) const {
        return string(member(object, "type", path), path + ".type");
    }
    const std::string& name() const { return name_; }

private:
    const std::string& name_;
};

// SAX handler: model.vocab (when an object) and model.merges (when an array) go straight into
// vectors; every other value is built into `root` as nlohmann's DOM parser would.
class Sax final : public nlohmann::json_sax<json> {
public:
    // Reserving by the text's size avoids regrowing the big vectors (page faults dominate the
    // load time); untouched reserved pages cost nothing.
    Sax(const std::string& name, size_t text_size) : name_(name) {
        vocab.reserve(text_size / 24);
        merges.reserve(text_size / 24);
    }

    json root;
    std::vector<std::pair<std::string, int32_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;
    bool has_vocab = false;
    bool has_merges = false;

    bool null() override { return value(json(nullptr)); }
    bool boolean(bool v) override { return value(json(v)); }
    bool number_integer(number_integer_t v) override {
        return mode_ == Mode::Vocab ? vocab_id(v) : value(json(v));
    }
    bool number_unsigned(number_unsigned_t v) override {
        if (mode_ != Mode::Vocab) return value(json(v));
        return vocab_id(v > uint64_t{INT32_MAX} ? int64_t{-1} : static_cast<int64_t>(v));
    }
    bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
    bool binary(binary_t&) override { return value(json(nullptr)); }
    bool string(string_t& v) override {
        if (mode_ == Mode::Merges) return merge_string(v);
        return value(json(std::move(v)));
    }
    bool key(string_t& k) override {
        if (mode_ == Mode::Vocab)
            vocab_key_ = std::move(k);
        else
            keys_.back() = std::move(k);
        return true;
    }
    bool start_object(std::size_t) override {
        if (mode_ == Mode::Dom && at_model_field("vocab")) {
            mode_ = Mode::Vocab;
            has_vocab = true;
            return true;
        }
        if (mode_ != Mode::Dom) unexpected("an object");
        return open(json::object());
    }
    bool end_object() override {
        if (mode_ == Mode::Vocab) {
            mode_ = Mode::Dom;
            return true;
        }
        return close();
    }
    bool start_array(std::size_t) override {
        if (mode_ == Mode::Dom && at_model_field("merges")) {
            mode_ = Mode::Merges;
            has_merges = true;
            return true;
        }
        if (mode_ == Mode::Merges && !in_pair_) {
            in_pair_ = true;
            pair_.clear();
            return true;
        }
        if (mode_ != Mode::Dom) unexpected("an array");
        return open(json::array());
    }
    bool end_array() override {
        if (mode_ != Mode::Merges) return close();
        if (!in_pair_) {
            mode_ = Mode::Dom;
            return true;
        }
        if (pair_.size() != 2) merge_error("expected [\"a\", \"b\"]");
        merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
        in_pair_ = false;
        return true;
    }
    bool parse_error(std::size_t, const std::string&,
                     const nlohmann::detail::exception& e) override {
        fail(ErrorCode::Parse, name_, ": not valid JSON: ", e.what());
    }

private:
    enum class Mode { Dom, Vocab, Merges };

    bool at_model_field(const char* field) const {
        return stack_.size() == 2 && keys_[0] == "model" && stack_[1]->is_object() &&
               keys_[1] == field;
    }
    bool value(json&& v) {
        if (mode_ != Mode::Dom) unexpected(v.type_name());
        if (stack_.empty())
            root = std::move(v);
        else if (stack_.back()->is_array())
            stack_.back()->push_back(std::move(v));
        else
            (*stack_.back())[keys_.back()] = std::move(v);
        return true;
    }
    bool open(json&& container) {
        json* slot = &root;
        if (!stack_.empty() && stack_.back()->is_array()) {
            stack_.back()->push_back(std::move(container));
            slot = &stack_.back()->back();
        } else if (!stack_.empty()) {
            slot = &((*stack_.back())[keys_.back()] = std::move(container));
        } else {
            root = std::move(container);
        }
        stack_.push_back(slot);
        keys_.emplace_back();
        return true;
    }
    bool close() {
        stack_.pop_back();
        keys_.pop_back();
        return true;
    }
    bool vocab_id(int64_t v) {
        if (v < 0 || v > INT32_MAX)
            fail(ErrorCode::Parse, name_, ": model.vocab['", vocab_key_, "']: id ", v,
                 " is out of range");
        vocab.emplace_back(std::move(vocab_key_), static_cast<int32_t>(v));
        return true;
    }
    bool merge_string(std::string& s) {
        if (in_pair_) {
            pair_.push_back(std::move(s));
            return true;
        }
        size_t space = s.find(' ');  // legacy "a b": exactly one space
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
            merge_error("expected \"a b\", got \"" + s + "\"");
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        return true;
    }
    [[noreturn]] void merge_error(const std::string& what) const {
        fail(ErrorCode::Parse, name_, ": model.merges[", merges.size(), "]: ", what);
    }
    [[noreturn]] void unexpected(const char* what) const {
        if (mode_ == Mode::Vocab)
            fail(ErrorCode::Parse, name_, ": model.vocab['", vocab_key_,
                 "']: expected an integer id, got ", what);
        merge_error(std::string("expected \"a b\" or [\"a\", \"b\"], got ") + what);
    }

    const std::string& name_;
    Mode mode_ = Mode::Dom;
    std::vector<json*> stack_;       // open containers of the DOM
    std::vector<std::string> keys_;  // per open container: its last key
    std::string vocab_key_;
    bool in_pair_ = false;
    std::vector<std::string> pair_;
};

template <typename... Parts>
[[noreturn]] void unsupported(const Reader& r, const Parts&... parts) {
    fail(ErrorCode::Unsupported, r.name(), ": ", parts...);
}

void read_normalizer(const Reader& r, const json& node, const std::string& path,
                     std::vector<NormalizerKind>& out) {
    if (node.is_null()) return;
    std::string type = r.type(node, path);
    if (type == "NFC") {
        out.push_back(NormalizerKind::Nfc);
    } else if (type == "NFD") {
        out.push_back(NormalizerKind::Nfd);
    } else if (type == "NFKC") {
        out.push_back(NormalizerKind::Nfkc);
    } else if (type == "NFKD") {
        out.push_back(NormalizerKind::Nfkd);
    } else if (type == "Lowercase") {
        out.push_back(NormalizerKind::Lowercase);
    } else if (type == "Sequence") {
        const json& list = r.array(r.member(node, "normalizers", path), path + ".normalizers");
        for (size_t i = 0; i < list.size(); ++i)
            read_normalizer(r, list[i], path + ".normalizers[" + std::to_string(i) + "]", out);
    } else {
        unsupported(r, path, ": normalizer type '", type, "' is not supported");
    }
}

SplitBehavior read_behavior(const Reader& r, const json& node, const std::string& path) {
    std::string b = r.string(r.member(node, "behavior", path), path + ".behavior");
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    r.bad(path + ".behavior", "unknown split behavior '", b, "'");
}

void read_pre_tokenizer(const Reader& r, const json& node, const std::string& path,
                        std::vector<PreTokenizerStep>& out) {
    if (node.is_null()) return;
    std::string type = r.type(node, path);
    PreTokenizerStep step;
    if (type == "Split") {
        const json& pattern = r.member(node, "pattern", path);
        if (pattern.is_object() && pattern.contains("Regex")) {
            step.pattern = r.string(pattern["Regex"], path + ".pattern.Regex");
        } else if (pattern.is_object() && pattern.contains("String")) {
            step.pattern = r.string(pattern["String"], path + ".pattern.String");
            step.pattern_is_literal = true;
        } else {
            r.bad(path + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
        }
        step.behavior = read_behavior(r, node, path);
        step.invert = r.boolean(node, "invert", path, false);
        out.push_back(std::move(step));
    } else if (type == "ByteLevel") {
        step.kind = PreTokenizerStep::Kind::ByteLevel;
        step.add_prefix_space = r.boolean(node, "add_prefix_space", path, true);
        step.use_regex = r.boolean(node, "use_regex", path, true);
        out.push_back(std::move(step));
    } else if (type == "Sequence") {
        const json& list = r.array(r.member(node, "pretokenizers", path), path + ".pretokenizers");
        for (size_t i = 0; i < list.size(); ++i)
            read_pre_tokenizer(r, list[i], path + ".pretokenizers[" + std::to_string(i) + "]", out);
    } else {
        unsupported(r, path, ": pre-tokenizer type '", type, "' is not supported");
    }
}

// The post-processor's effect on a single sequence, as ids around kSequenceSlot.
std::vector<int32_t> read_post_processor(const Reader& r, const json& node,
                                         const std::string& path) {
    std::vector<int32_t> single{kSequenceSlot};
    if (node.is_null()) return single;
    std::string type = r.type(node, path);
    if (type == "ByteLevel") return single;
    if (type == "BertProcessing" || type == "RobertaProcessing") {
        auto special = [&](const char* key) {
            const json& pair = r.array(r.member(node, key, path), path + "." + key);
            if (pair.size() != 2) r.bad(path + "." + key, "expected [token, id]");
            return r.id(pair[1], path + "." + key + "[1]");
        };
        return {special("cls"), kSequenceSlot, special("sep")};
    }
    if (type == "TemplateProcessing") {
        const json& items = r.array(r.member(node, "single", path), path + ".single");
        const json& specials = r.member(node, "special_tokens", path);
        single.clear();
        for (size_t i = 0; i < items.size(); ++i) {
            std::string item_path = path + ".single[" + std::to_string(i) + "]";
            if (items[i].is_object() && items[i].contains("Sequence")) {
                single.push_back(kSequenceSlot);
                continue;
            }
            const json& token = r.member(items[i], "SpecialToken", item_path);
            std::string name = r.string(r.member(token, "id", item_path + ".SpecialToken"),
                                        item_path + ".SpecialToken.id");
            if (!specials.is_object() || !specials.contains(name))
                r.bad(path + ".special_tokens", "no entry for '", name, "'");
            std::string ids_path = path + ".special_tokens." + name + ".ids";
            const json& ids = r.array(r.member(specials[name], "ids", ids_path), ids_path);
            for (size_t k = 0; k < ids.size(); ++k)
                single.push_back(r.id(ids[k], ids_path + "[" + std::to_string(k) + "]"));
        }
        return single;
    }
    if (type == "Sequence") {
        const json& list = r.array(r.member(node, "processors", path), path + ".processors");
        for (size_t i = 0; i < list.size(); ++i)
            single = apply_template(
                read_post_processor(r, list[i], path + ".processors[" + std::to_string(i) + "]"),
                single);
        return single;
    }
    unsupported(r, path, ": post-processor type '", type, "' is not supported");
}

// True for a ByteLevel decoder, false for none.
bool read_decoder(const Reader& r, const json& node, const std::string& path) {
    if (node.is_null()) return false;
    std::string type = r.type(node, path);
    if (type == "ByteLevel") return true;
    if (type == "Sequence") {
        const json& list = r.array(r.member(node, "decoders", path), path + ".decoders");
        if (list.size() == 1) return read_decoder(r, list[0], path + ".decoders[0]");
    }
    unsupported(r, path, ": decoder type '", type, "' is not supported with a BPE model");
}

void read_bpe_model(const Reader& r, Sax& sax, const json& model, BpeModelConfig& out) {
    if (!sax.has_vocab) {  // absent, or not an object (left in the DOM)
        const json& vocab = r.member(model, "vocab", "model");
        r.bad("model.vocab", "expected an object, got ", vocab.type_name());
    }
    if (!sax.has_merges) {
        const json& merges = r.member(model, "merges", "model");
        r.bad("model.merges", "expected an array, got ", merges.type_name());
    }
    out.vocab = std::move(sax.vocab);
    out.merges = std::move(sax.merges);
    const json& dropout = r.optional(model, "dropout");
    if (!dropout.is_null() && (!dropout.is_number() || dropout.get<double>() > 0.0))
        unsupported(r, "model.dropout: BPE dropout is not supported (got ", dropout.dump(), ")");
    out.unk_token = r.string_or_null(model, "unk_token", "model");
    out.continuing_subword_prefix =
        r.string_or_null(model, "continuing_subword_prefix", "model").value_or("");
    out.end_of_word_suffix = r.string_or_null(model, "end_of_word_suffix", "model").value_or("");
    out.fuse_unk = r.boolean(model, "fuse_unk", "model", false);
    out.byte_fallback = r.boolean(model, "byte_fallback", "model", false);
    out.ignore_merges = r.boolean(model, "ignore_merges", "model", false);
}

void read_added_tokens(const Reader& r, const json& root, std::vector<AddedToken>& out) {
    const json& added = r.optional(root, "added_tokens");
    if (added.is_null()) return;
    r.array(added, "added_tokens");
    for (size_t i = 0; i < added.size(); ++i) {
        std::string path = "added_tokens[" + std::to_string(i) + "]";
        AddedToken t;
        t.id = r.id(r.member(added[i], "id", path), path + ".id");
        t.content = r.string(r.member(added[i], "content", path), path + ".content");
        t.special = r.boolean(added[i], "special", path, false);
        t.single_word = r.boolean(added[i], "single_word", path, false);
        t.lstrip = r.boolean(added[i], "lstrip", path, false);
        t.rstrip = r.boolean(added[i], "rstrip", path, false);
        t.normalized = r.boolean(added[i], "normalized", path, !t.special);
        out.push_back(std::move(t));
    }
}

std::unique_ptr<Tokenizer> build_bpe(const Reader& r, Sax& sax, const json& model) {
    const json& root = sax.root;
    BpeConfig config;
    config.name = r.name();
    read_bpe_model(r, sax, model, config.model);
    read_added_tokens(r, root, config.added_tokens);
    read_normalizer(r, r.optional(root, "normalizer"), "normalizer", config.normalizers);
    read_pre_tokenizer(r, r.optional(root, "pre_tokenizer"), "pre_tokenizer",
                       config.pre_tokenizers);
    std::vector<int32_t> single =
        read_post_processor(r, r.optional(root, "post_processor"), "post_processor");
    if (!(single.size() == 1 && single[0] == kSequenceSlot)) config.single_template = single;
    config.decoder_byte_level = read_decoder(r, r.optional(root, "decoder"), "decoder");
    return std::make_unique<BpeTokenizer>(std::move(config));
}

int64_t integer(const Reader& r, const json& object, const char* key, const std::string& path,
                int64_t fallback) {
    const json& value = r.optional(object, key);
    if (value.is_null()) return fallback;
    if (!value.is_number_integer())
        r.bad(path + "." + key, "expected an integer, got ", value.type_name());
    return value.get<int64_t>();
}

void read_wordpiece_normalizer(const Reader& r, const json& node, const std::string& path,
                               std::vector<WordPieceNormalizer>& out) {
    if (node.is_null()) return;
    std::string type = r.type(node, path);
    WordPieceNormalizer step;
    if (type == "BertNormalizer") {
        step.bert.clean_text = r.boolean(node, "clean_text", path, true);
        step.bert.handle_chinese_chars = r.boolean(node, "handle_chinese_chars", path, true);
        if (!r.optional(node, "strip_accents").is_null())
            step.bert.strip_accents = r.boolean(node, "strip_accents", path, false);
        step.bert.lowercase = r.boolean(node, "lowercase", path, true);
        out.push_back(step);
    } else if (type == "StripAccents") {
        step.kind = WordPieceNormalizer::Kind::StripAccents;
        out.push_back(step);
    } else if (type == "Sequence") {
        const json& list = r.array(r.member(node, "normalizers", path), path + ".normalizers");
        for (size_t i = 0; i < list.size(); ++i)
            read_wordpiece_normalizer(r, list[i], path + ".normalizers[" + std::to_string(i) + "]",
                                      out);
    } else {
        std::vector<NormalizerKind> kinds;
        read_normalizer(r, node, path, kinds);
        step.kind = WordPieceNormalizer::Kind::Unicode;
        for (NormalizerKind kind : kinds) {
            step.unicode = kind;
            out.push_back(step);
        }
    }
}

std::unique_ptr<Tokenizer> build_wordpiece(const Reader& r, Sax& sax, const json& model) {
    const json& root = sax.root;
    if (!sax.has_vocab) {
        const json& vocab = r.member(model, "vocab", "model");
        r.bad("model.vocab", "expected an object, got ", vocab.type_name());
    }
    WordPieceConfig config;
    config.name = r.name();
    config.vocab = std::move(sax.vocab);
    if (auto unk = r.string_or_null(model, "unk_token", "model")) config.unk_token = *unk;
    if (auto prefix = r.string_or_null(model, "continuing_subword_prefix", "model"))
        config.continuing_subword_prefix = *prefix;
    config.max_input_chars_per_word = integer(r, model, "max_input_chars_per_word", "model", 100);
    read_added_tokens(r, root, config.added_tokens);
    read_wordpiece_normalizer(r, r.optional(root, "normalizer"), "normalizer", config.normalizers);
    const json& pre = r.optional(root, "pre_tokenizer");
    config.bert_pre_tokenizer = !pre.is_null();
    if (!pre.is_null() && r.type(pre, "pre_tokenizer") != "BertPreTokenizer")
        unsupported(r, "pre_tokenizer: pre-tokenizer type '", r.type(pre, "pre_tokenizer"),
                    "' is not supported with a WordPiece model");
    std::vector<int32_t> single =
        read_post_processor(r, r.optional(root, "post_processor"), "post_processor");
    if (!(single.size() == 1 && single[0] == kSequenceSlot)) config.single_template = single;
    const json& decoder = r.optional(root, "decoder");
    config.decoder_wordpiece = !decoder.is_null();
    if (!decoder.is_null()) {
        std::string type = r.type(decoder, "decoder");
        if (type != "WordPiece")
            unsupported(r, "decoder: decoder type '", type,
                        "' is not supported with a WordPiece model");
        config.decoder_prefix = r.string_or_null(decoder, "prefix", "decoder").value_or("##");
        config.decoder_cleanup = r.boolean(decoder, "cleanup", "decoder", true);
    }
    const json& truncation = r.optional(root, "truncation");
    if (!truncation.is_null()) {
        int64_t max_length = integer(r, truncation, "max_length", "truncation", 0);
        if (max_length > 0) config.max_length = max_length;
    }
    return std::make_unique<WordPieceTokenizer>(std::move(config));
}

}  // namespace

std::unique_ptr<Tokenizer> from_json_text(std::string_view text,
                                          const std::string& name_for_errors) {
    Reader r(name_for_errors);
    Sax sax(name_for_errors, text.size());
    try {
        json::sax_parse(text.begin(), text.end(), &sax);
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, name_for_errors, ": not valid JSON: ", e.what());
    }
    const json& root = sax.root;
    if (!root.is_object())
        fail(ErrorCode::Parse, name_for_errors, ": expected a JSON object, got ", root.type_name());
    try {
        if (!root.contains("model")) r.bad("model", "missing");
        const json& model = root["model"];
        std::string type;
        if (model.is_object() && !model.contains("type") && sax.has_merges)
            type = "BPE";  // files written before model.type existed
        else
            type = r.type(model, "model");
        if (type == "BPE") return build_bpe(r, sax, model);
        if (type == "WordPiece") return build_wordpiece(r, sax, model);
        fail(ErrorCode::Unsupported, name_for_errors, ": tokenizer model type '", type,
             "' is not supported");
    } catch (const json::exception& e) {  // a field of an unexpected type that slipped through
        fail(ErrorCode::Parse, name_for_errors, ": ", e.what());
    }
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string file = path;
    if (fs::is_directory(path, ec)) {
        file = (fs::path(path) / "tokenizer.json").string();
        std::string vocab = (fs::path(path) / "vocab.txt").string();
        if (!fs::exists(file, ec) && fs::exists(vocab, ec))  // a BERT folder without the fast file
            return WordPieceTokenizer::from_vocab_txt(vocab);
    } else if (fs::path(path).extension() == ".txt") {
        return WordPieceTokenizer::from_vocab_txt(path);
    }
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    if (!in) {
        if (!fs::exists(file, ec)) fail(ErrorCode::Io, file, ": no such file");
        fail(ErrorCode::Io, file, ": cannot open for reading");
    }
    std::streamoff size = in.tellg();
    if (size < 0) fail(ErrorCode::Io, file, ": cannot determine the file size");
    std::string text(static_cast<size_t>(size), '\0');
    in.seekg(0);
    if (!in.read(text.data(), size)) fail(ErrorCode::Io, file, ": read error");
    return from_json_text(text, file);
}

}  // namespace ferris
