// BpeTokenizer: vocabulary and merge tables, the encode pipeline (added tokens, normalizers,
// pre-tokenizers, BPE behind a piece cache, post-processor template) and byte-level decoding.
// Mirrors `tokenizers` (Rust) BPE::merge_word / Word::merge_all so ids match it exactly.
#include "tokenizers/bpe.h"

#include <algorithm>
#include <queue>
#include <unordered_set>

#include "ferris/error.h"

namespace ferris {
namespace {

constexpr uint64_t kEmptyKey = ~uint64_t{0};
constexpr uint32_t kNoRank = ~uint32_t{0};
constexpr size_t kMaxCachedPiece = 256;     // bytes; longer pieces are rare and not cached
constexpr size_t kCacheCapacity = 1 << 16;  // entries; the cache is cleared when it is full
constexpr size_t kSmallWord = 64;           // symbols; longer words merge through a heap

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the 68 others to
// U+0100.. in byte order.
struct ByteAlphabet {
    uint32_t cp[256];
    int16_t byte_of[324];  // code point → byte, -1 outside the alphabet
    ByteAlphabet() {
        std::fill(std::begin(byte_of), std::end(byte_of), int16_t{-1});
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            cp[b] = printable ? b : next++;
            byte_of[cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteAlphabet& alphabet() {
    static const ByteAlphabet table;
    return table;
}

// Table size for n keys under linear probing: a power of two, load factor at most 0.6.
size_t table_size(size_t n) {
    size_t size = 16;
    while (size * 3 < n * 5) size *= 2;
    return size;
}

size_t merge_hash(uint64_t key, uint32_t shift) {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift);
}

uint64_t merge_key(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeConfig config)
    : name_(std::move(config.name)),
      vocab_(std::move(config.model.vocab)),
      decoder_byte_level_(config.decoder_byte_level),
      model_(std::move(config.model)),
      normalizers_(std::move(config.normalizers)),
      pre_tokenizers_(std::move(config.pre_tokenizers)),
      added_tokens_(std::move(config.added_tokens)),
      single_template_(std::move(config.single_template)) {
    // Vocabulary: a flat hash of indexes into vocab_; a repeated string keeps its last id, as a
    // HashMap built from the JSON object would.
    int32_t max_id = -1;
    vocab_slots_.assign(table_size(vocab_.size()), -1);
    size_t mask = vocab_slots_.size() - 1;
    for (size_t k = 0; k < vocab_.size(); ++k) {
        const auto& [token, id] = vocab_[k];
        if (id < 0) fail(ErrorCode::Parse, name_, ": model.vocab['", token, "'] = ", id, " < 0");
        max_id = std::max(max_id, id);
        size_t hash = StringHash{}(token);
        size_t i = hash & mask;
        while (vocab_slots_[i] >= 0 && vocab_[static_cast<size_t>(vocab_slots_[i])].first != token)
            i = (i + 1) & mask;
        vocab_slots_[i] = static_cast<int32_t>(k);
    }
    for (const AddedToken& t : added_tokens_) {
        if (t.id < 0) fail(ErrorCode::Parse, name_, ": added token '", t.content, "' has id < 0");
        max_id = std::max(max_id, t.id);
    }
    check_max_token_id(max_id, name_);
    vocab_size_ = max_id + 1;
    id_to_vocab_.assign(static_cast<size_t>(vocab_size_), -1);
    id_to_added_.assign(static_cast<size_t>(vocab_size_), -1);
    special_.assign(static_cast<size_t>(vocab_size_), 0);
    for (int32_t slot : vocab_slots_)
        if (slot >= 0)
            id_to_vocab_[static_cast<size_t>(vocab_[static_cast<size_t>(slot)].second)] = slot;
    std::unordered_set<std::string> special_contents;
    for (size_t k = 0; k < added_tokens_.size(); ++k) {
        const AddedToken& t = added_tokens_[k];
        id_to_added_[static_cast<size_t>(t.id)] = static_cast<int32_t>(k);
        added_by_content_.emplace(t.content, t.id);
        if (t.special) special_contents.insert(t.content);
    }

    // Merges: (left, right) → (rank, merged id); a later duplicate overrides, as in a HashMap.
    merges_.assign(table_size(model_.merges.size()), MergeSlot{kEmptyKey, 0, 0});
    merge_shift_ = 64 - static_cast<uint32_t>(__builtin_ctzll(merges_.size()));
    const std::string& prefix = model_.continuing_subword_prefix;
    std::string joined;
    auto lookup = [&](std::string_view token, size_t rank, const char* what) {
        int32_t id = find_vocab(token);
        if (id < 0)
            fail(ErrorCode::Parse, name_, ": model.merges[", rank, "]: ", what, " '", token,
                 "' is not in the vocabulary");
        return id;
    };
    for (size_t rank = 0; rank < model_.merges.size(); ++rank) {
        const auto& [a, b] = model_.merges[rank];
        int32_t left = lookup(a, rank, "token");
        int32_t right = lookup(b, rank, "token");
        bool strip = !prefix.empty() && b.compare(0, prefix.size(), prefix) == 0;
        joined.assign(a).append(b, strip ? prefix.size() : 0);
        int32_t merged = lookup(joined, rank, "merged token");
        uint64_t key = merge_key(left, right);
        size_t i = merge_hash(key, merge_shift_);
        while (merges_[i].key != kEmptyKey && merges_[i].key != key)
            i = (i + 1) & (merges_.size() - 1);
        merges_[i] = MergeSlot{key, static_cast<uint32_t>(rank), merged};
    }
    model_.merges.clear();
    model_.merges.shrink_to_fit();

    // Pre-tokenizer steps: one regex per splitting step; ByteLevel must come last.
    for (const PreTokenizerStep& step : pre_tokenizers_) {
        if (byte_level_)
            fail(ErrorCode::Unsupported, name_,
                 ": pre-tokenizer steps after ByteLevel are not supported");
        if (step.kind == PreTokenizerStep::Kind::ByteLevel) {
            byte_level_ = true;
            regexes_.push_back(step.use_regex ? std::make_unique<Regex>(kGpt2Pattern, false, name_)
                                              : nullptr);
        } else {
            regexes_.push_back(
                std::make_unique<Regex>(step.pattern, step.pattern_is_literal, name_));
        }
    }
    byte_ids_complete_ = byte_level_ && prefix.empty() && model_.end_of_word_suffix.empty();
    for (int b = 0; b < 256; ++b) {
        std::string ch;
        utf8_append(ch, alphabet().cp[b]);
        byte_ids_[b] = find_vocab(ch);
        if (byte_ids_[b] < 0) byte_ids_complete_ = false;
    }
    if (model_.unk_token) unk_id_ = find_vocab(*model_.unk_token);

    // Added tokens: normalized=false ones are matched in the raw text, the others in the
    // normalized pieces with their content normalized the same way, which is also what
    // `tokenizers` gives back for their id (token_to_id still takes the content as written).
    for (AddedToken& t : added_tokens_) {
        if (!t.normalized) {
            raw_added_.add(t.content, &t);
            continue;
        }
        std::string scratch_text;
        for (NormalizerKind kind : normalizers_)
            if (apply_normalizer(kind, t.content, scratch_text)) t.content.swap(scratch_text);
        normalized_added_.add(t.content, &t);
    }
    // Skipping special tokens in decode tests the id's string against the contents as written,
    // so a special token whose normalized content differs is not skipped (as in `tokenizers`).
    for (const AddedToken& t : added_tokens_)
        special_[static_cast<size_t>(t.id)] = special_contents.count(t.content) > 0 ? 1 : 0;
}

BpeTokenizer::~BpeTokenizer() = default;

int32_t BpeTokenizer::find_vocab(std::string_view token) const {
    size_t mask = vocab_slots_.size() - 1;
    size_t hash = StringHash{}(token);
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        int32_t slot = vocab_slots_[i];
        if (slot < 0) return -1;
        if (vocab_[static_cast<size_t>(slot)].first == token)
            return vocab_[static_cast<size_t>(slot)].second;
    }
}

const BpeTokenizer::MergeSlot* BpeTokenizer::find_merge(int32_t left, int32_t right) const {
    uint64_t key = merge_key(left, right);
    size_t mask = merges_.size() - 1;
    for (size_t i = merge_hash(key, merge_shift_);; i = (i + 1) & mask) {
        const MergeSlot& slot = merges_[i];
        if (slot.key == key) return &slot;
        if (slot.key == kEmptyKey) return nullptr;
    }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special) const {
    return encode_with_added_tokens(
        text, add_special, name_, raw_added_, normalized_added_, single_template_,
        [this](std::string_view in, std::string& out) { return normalize(in, out); },
        [this](std::string_view in, std::vector<int32_t>& ids) { encode_normalized(in, ids); });
}

bool BpeTokenizer::normalize(std::string_view text, std::string& out) const {
    std::string scratch;
    std::string_view view = text;
    bool changed = false;
    for (NormalizerKind kind : normalizers_) {
        if (apply_normalizer(kind, view, scratch)) {
            out.swap(scratch);
            view = out;
            changed = true;
        }
    }
    return changed;
}

void BpeTokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    std::vector<std::string_view> pieces;
    std::deque<std::string> arena;
    pre_tokenize(text, pieces, arena);
    for (std::string_view piece : pieces) tokenize_piece(piece, ids);
}

// PreTokenizer::pre_tokenize of Split and ByteLevel, step after step. ByteLevel's mapping of
// bytes to its alphabet is left to the model, which reads raw bytes.
void BpeTokenizer::pre_tokenize(std::string_view text, std::vector<std::string_view>& pieces,
                                std::deque<std::string>& arena) const {
    pieces.assign(1, text);
    std::vector<std::string_view> next;
    for (size_t s = 0; s < pre_tokenizers_.size(); ++s) {
        const PreTokenizerStep& step = pre_tokenizers_[s];
        const Regex* regex = regexes_[s].get();
        if (step.kind == PreTokenizerStep::Kind::ByteLevel && !step.add_prefix_space && !regex)
            continue;
        next.clear();
        next.reserve(pieces.size() + text.size() / 4);
        for (std::string_view piece : pieces) {
            if (step.kind == PreTokenizerStep::Kind::Split) {
                regex->split(piece, step.behavior, step.invert, next);
                continue;
            }
            if (step.add_prefix_space && piece.front() != ' ') {
                std::string& spaced = arena.emplace_back(1, ' ');
                spaced.append(piece);
                piece = spaced;
            }
            if (regex)
                regex->split(piece, SplitBehavior::Isolated, false, next);
            else
                next.push_back(piece);
        }
        pieces.swap(next);
    }
}

void BpeTokenizer::tokenize_piece(std::string_view piece, std::vector<int32_t>& ids) const {
    if (piece.size() == 1 && byte_ids_complete_) {  // one byte: its alphabet character's id
        ids.push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
        return;
    }
    bool cacheable = piece.size() <= kMaxCachedPiece;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        auto it = cache_.find(piece);
        if (it != cache_.end()) {
            ids.insert(ids.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    size_t before = ids.size();
    bpe(piece, ids);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (cache_.size() >= kCacheCapacity) cache_.clear();
        cache_.emplace(
            std::string(piece),
            std::vector<int32_t>(ids.begin() + static_cast<ptrdiff_t>(before), ids.end()));
    }
}

std::string BpeTokenizer::byte_level_string(std::string_view bytes) const {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) utf8_append(out, alphabet().cp[static_cast<uint8_t>(c)]);
    return out;
}

// BPE::tokenize_with_cache → merge_word + Word::merge_all.
void BpeTokenizer::bpe(std::string_view piece, std::vector<int32_t>& ids) const {
    if (model_.ignore_merges) {
        int32_t id = find_vocab(byte_level_ ? byte_level_string(piece) : std::string(piece));
        if (id >= 0) {
            ids.push_back(id);
            return;
        }
    }
    std::vector<int32_t> symbols;
    initial_symbols(piece, symbols);
    if (symbols.size() <= kSmallWord)
        merge_small(symbols);
    else
        merge_large(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
}

// BPE::merge_word: one symbol per character (byte-level: per byte); characters missing from
// the vocabulary go to byte fallback, then to the unk token (fused if asked), else are dropped.
void BpeTokenizer::initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const {
    symbols.reserve(piece.size());
    if (byte_ids_complete_) {
        for (char c : piece) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
        return;
    }
    std::string mapped = byte_level_ ? byte_level_string(piece) : std::string(piece);
    bool unk_pending = false;
    std::string s;
    size_t len;
    for (size_t i = 0; i < mapped.size(); i += len) {
        len = std::min(utf8_len(mapped[i]), mapped.size() - i);
        s.clear();
        if (i > 0) s += model_.continuing_subword_prefix;
        s.append(mapped, i, len);
        if (i + len == mapped.size()) s += model_.end_of_word_suffix;
        if (int32_t id = find_vocab(s); id >= 0) {
            if (unk_pending) symbols.push_back(unk_id_);
            unk_pending = false;
            symbols.push_back(id);
            continue;
        }
        if (model_.byte_fallback) {  // <0xXX> tokens for every byte, or none at all
            std::vector<int32_t> bytes;
            for (char c : s) {
                static const char* kHex = "0123456789ABCDEF";
                auto b = static_cast<uint8_t>(c);
                int32_t id = find_vocab(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
                if (id < 0) break;
                bytes.push_back(id);
            }
            if (bytes.size() == s.size()) {
                symbols.insert(symbols.end(), bytes.begin(), bytes.end());
                continue;
            }
        }
        if (!model_.unk_token) continue;
        if (unk_id_ < 0)
            fail(ErrorCode::InvalidArgument, "[tokenizer] ", name_, ": unk token '",
                 *model_.unk_token, "' is not in the vocabulary");
        if (unk_pending && !model_.fuse_unk) symbols.push_back(unk_id_);
        unk_pending = true;
    }
    if (unk_pending) symbols.push_back(unk_id_);
}

// Short words: repeatedly merge the lowest-ranked adjacent pair, leftmost first. This is the
// order of `tokenizers`' heap (rank, then position) without the heap.
void BpeTokenizer::merge_small(std::vector<int32_t>& symbols) const {
    size_t n = symbols.size();
    if (n < 2) return;
    uint32_t rank[kSmallWord];
    int32_t merged[kSmallWord];
    auto refresh = [&](size_t i) {  // pair (i, i + 1)
        const MergeSlot* m = find_merge(symbols[i], symbols[i + 1]);
        rank[i] = m ? m->rank : kNoRank;
        merged[i] = m ? m->new_id : -1;
    };
    for (size_t i = 0; i + 1 < n; ++i) refresh(i);
    for (;;) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; ++i)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == kNoRank) break;
        symbols[best] = merged[best];
        for (size_t i = best + 1; i + 1 < n; ++i) symbols[i] = symbols[i + 1];
        for (size_t i = best; i + 2 < n; ++i) {
            rank[i] = rank[i + 1];
            merged[i] = merged[i + 1];
        }
        --n;
        if (n < 2) break;
        if (best > 0) refresh(best - 1);
        if (best + 1 < n) refresh(best);
    }
    symbols.resize(n);
}

// Long words: Word::merge_all's priority queue over a linked list, stale entries skipped.
void BpeTokenizer::merge_large(std::vector<int32_t>& symbols) const {
    struct Entry {
        uint32_t rank, pos;
        int32_t left, right, merged;
        bool operator>(const Entry& o) const {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    size_t n = symbols.size();
    std::vector<int32_t> prev(n), next(n);
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
    auto push = [&](size_t i, size_t j) {
        if (const MergeSlot* m = find_merge(symbols[i], symbols[j]))
            heap.push({m->rank, static_cast<uint32_t>(i), symbols[i], symbols[j], m->new_id});
    };
    for (size_t i = 0; i < n; ++i) {
        prev[i] = static_cast<int32_t>(i) - 1;
        next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
        if (i + 1 < n) push(i, i + 1);
    }
    while (!heap.empty()) {
        Entry e = heap.top();
        heap.pop();
        int32_t j = next[e.pos];
        if (symbols[e.pos] != e.left || j < 0 || symbols[static_cast<size_t>(j)] != e.right)
            continue;  // stale: one side merged since
        symbols[e.pos] = e.merged;
        symbols[static_cast<size_t>(j)] = -1;
        next[e.pos] = next[static_cast<size_t>(j)];
        if (next[e.pos] >= 0) prev[static_cast<size_t>(next[e.pos])] = static_cast<int32_t>(e.pos);
        if (prev[e.pos] >= 0) push(static_cast<size_t>(prev[e.pos]), e.pos);
        if (next[e.pos] >= 0) push(e.pos, static_cast<size_t>(next[e.pos]));
    }
    size_t out = 0;
    for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)])
        symbols[out++] = symbols[static_cast<size_t>(i)];
    symbols.resize(out);
}

std::string_view BpeTokenizer::token_string(int32_t id) const {
    if (id < 0 || id >= vocab_size_) return {};
    if (int32_t k = id_to_added_[static_cast<size_t>(id)]; k >= 0)
        return added_tokens_[static_cast<size_t>(k)].content;
    if (int32_t k = id_to_vocab_[static_cast<size_t>(id)]; k >= 0)
        return vocab_[static_cast<size_t>(k)].first;
    return {};
}

// ByteLevel decoder: each character of the token back to its byte; a token holding a
// character outside the alphabet (some added tokens) is kept as written.
std::string BpeTokenizer::token_bytes(int32_t id) const {
    std::string_view token = token_string(id);
    if (!decoder_byte_level_) return std::string(token);
    std::string out;
    out.reserve(token.size());
    size_t len;
    for (size_t i = 0; i < token.size(); i += len) {
        uint32_t cp = utf8_decode(token, i, len);
        int16_t byte = cp < 324 ? alphabet().byte_of[cp] : int16_t{-1};
        if (byte < 0) return std::string(token);
        out.push_back(static_cast<char>(byte));
    }
    return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
        if (id < 0 || id >= vocab_size_) continue;
        if (skip_special && special_[static_cast<size_t>(id)]) continue;
        if (decoder_byte_level_) {
            out += token_bytes(id);
        } else {  // no decoder: `tokenizers` joins the tokens with spaces
            if (!first) out.push_back(' ');
            out += token_string(id);
        }
        first = false;
    }
    return out;
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
    if (auto it = added_by_content_.find(token); it != added_by_content_.end()) return it->second;
    if (int32_t id = find_vocab(token); id >= 0) return id;
    return std::nullopt;
}

std::string BpeTokenizer::id_to_token(int32_t id) const { return std::string(token_string(id)); }

bool BpeTokenizer::is_special(int32_t id) const {
    return id >= 0 && id < vocab_size_ && special_[static_cast<size_t>(id)];
}

}  // namespace ferris
