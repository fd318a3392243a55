// EmbeddingModel: tokenizer + encoder + pooling. Texts are tokenized on all threads, a chunk at a
// time, sorted by length (longest first) and cut into batches of at most `batch_tokens` tokens,
// packed without padding; each batch runs one encoder forward, then pooling and L2 normalization
// per text. A chunk's vectors come back through a readback slot while the next chunks compute,
// on lanes of their own where the device has them (streams on a GPU).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <numeric>

#include "core/parallel.h"
#include "ferris/embedding_model.h"
#include "io/files.h"
#include "models/encoder/model.h"
#include "ops/ops.h"
#include "runtime/sentence_config.h"
#include "tokenizers/wordpiece.h"

namespace ferris {

namespace {

using models::encoder::Arch;
using models::encoder::EncoderModel;

struct TypeDefaults {
    Arch arch;
    int64_t hidden;
    int64_t max_length;
    const char* query_prefix;
    const char* passage_prefix;
};

TypeDefaults type_defaults(EmbeddingModelType type) {
    switch (type) {
        case EmbeddingModelType::E5SmallV2:
            return {Arch::Bert, 384, 512, "query: ", "passage: "};
        case EmbeddingModelType::AllMiniLmL6V2:
            return {Arch::Bert, 384, 256, "", ""};
        case EmbeddingModelType::AllMpnetBaseV2:
            return {Arch::MPNet, 768, 384, "", ""};
        case EmbeddingModelType::Auto:
            break;
    }
    return {Arch::Bert, 0, 0, "", ""};
}

PoolMode pool_mode(Pooling pooling) {
    switch (pooling) {
        case Pooling::Cls:
            return PoolMode::Cls;
        case Pooling::Max:
            return PoolMode::Max;
        case Pooling::Mean:
            break;
    }
    return PoolMode::Mean;
}

}  // namespace

const char* pooling_name(Pooling pooling) {
    switch (pooling) {
        case Pooling::Mean:
            return "mean";
        case Pooling::Cls:
            return "cls";
        case Pooling::Max:
            return "max";
    }
    return "?";
}

Pooling parse_pooling(const std::string& name) {
    if (name == "mean") return Pooling::Mean;
    if (name == "cls") return Pooling::Cls;
    if (name == "max") return Pooling::Max;
    fail(ErrorCode::InvalidArgument, "pooling '", name, "' (expected mean, cls or max)");
}

EmbeddingModelType parse_embedding_model_type(const std::string& name) {
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == "auto") return EmbeddingModelType::Auto;
    if (n == "e5-small-v2" || n == "e5smallv2") return EmbeddingModelType::E5SmallV2;
    if (n == "all-minilm-l6-v2" || n == "allminilml6v2") return EmbeddingModelType::AllMiniLmL6V2;
    if (n == "all-mpnet-base-v2" || n == "allmpnetbasev2")
        return EmbeddingModelType::AllMpnetBaseV2;
    fail(ErrorCode::InvalidArgument, "model type '", name,
         "' (expected auto, e5-small-v2, all-minilm-l6-v2 or all-mpnet-base-v2)");
}

struct EmbeddingModel::Impl {
    std::unique_ptr<EncoderModel> encoder;
    std::unique_ptr<WordPieceTokenizer> tokenizer;
    Pooling pooling = Pooling::Mean;
    bool normalize = true;
    int64_t max_length = 0;
    int64_t batch_tokens = 0;
    int64_t chunk_texts = 0;
    TypeDefaults defaults{};
    std::mutex encode_mutex;
    std::unique_ptr<Readback> readback;  // encode()'s slots of vectors coming back
    size_t readback_bytes = 0;
    int readback_slots = 0;
};

EmbeddingModel::EmbeddingModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddingModel::EmbeddingModel(EmbeddingModel&&) noexcept = default;
EmbeddingModel& EmbeddingModel::operator=(EmbeddingModel&&) noexcept = default;
EmbeddingModel::~EmbeddingModel() = default;

EmbeddingModel EmbeddingModel::from_dir(const std::string& dir, Device device,
                                        EmbeddingModelType type) {
    EmbeddingOptions options;
    options.device = device;
    options.type = type;
    return from_dir(dir, options);
}

EmbeddingModel EmbeddingModel::from_dir(const std::string& dir, const EmbeddingOptions& options) {
    if (options.batch_tokens < 0)
        fail(ErrorCode::InvalidArgument, "batch_tokens must be positive (or 0: the default), got ",
             options.batch_tokens);
    if (options.chunk_texts < 0)
        fail(ErrorCode::InvalidArgument, "chunk_texts must be positive (or 0: the default), got ",
             options.chunk_texts);
    auto impl = std::make_unique<Impl>();
    models::encoder::LoadOptions lo;
    lo.device = options.device;
    lo.dtype = options.dtype;
    impl->encoder = EncoderModel::load(dir, lo);
    const auto& cfg = impl->encoder->config();
    impl->defaults = type_defaults(options.type);
    if (options.type != EmbeddingModelType::Auto &&
        (cfg.arch != impl->defaults.arch || cfg.hidden_size != impl->defaults.hidden))
        fail(ErrorCode::InvalidArgument, dir, ": a ", models::encoder::arch_name(cfg.arch),
             " encoder of width ", cfg.hidden_size, " is not that model type (expected ",
             models::encoder::arch_name(impl->defaults.arch), ", width ", impl->defaults.hidden,
             ")");

    const std::string tok_path = io::join_path(dir, "tokenizer.json");
    std::unique_ptr<Tokenizer> tok;
    if (io::path_exists(tok_path)) {
        tok = Tokenizer::from_file(tok_path);
    } else if (io::path_exists(io::join_path(dir, "vocab.txt"))) {
        tok = WordPieceTokenizer::from_vocab_txt(io::join_path(dir, "vocab.txt"));
    } else {
        fail(ErrorCode::Io, dir, ": no tokenizer.json or vocab.txt");
    }
    impl->tokenizer.reset(dynamic_cast<WordPieceTokenizer*>(tok.get()));
    if (!impl->tokenizer) fail(ErrorCode::Unsupported, tok_path, ": not a WordPiece tokenizer");
    tok.release();
    if (impl->tokenizer->vocab_size() > cfg.vocab_size)
        fail(ErrorCode::ShapeMismatch, tok_path, ": ", impl->tokenizer->vocab_size(),
             " tokens, but the model has only ", cfg.vocab_size, " embeddings");

    const runtime::SentenceConfig sc = runtime::read_sentence_config(dir);
    impl->pooling = options.pooling.value_or(sc.pooling.value_or(Pooling::Mean));
    impl->normalize = options.normalize.value_or(sc.normalize.value_or(true));
    // sentence-transformers: max_seq_length, else min(max_position_embeddings, model_max_length).
    int64_t max_len = cfg.max_tokens();
    if (impl->tokenizer->max_length()) max_len = std::min(max_len, *impl->tokenizer->max_length());
    if (options.type != EmbeddingModelType::Auto) max_len = impl->defaults.max_length;
    if (sc.max_seq_length) max_len = *sc.max_seq_length;
    if (options.max_length) max_len = *options.max_length;
    if (max_len > cfg.max_tokens())
        fail(ErrorCode::InvalidArgument, dir, ": max length ", max_len, " exceeds the model's ",
             cfg.max_tokens(), " positions");
    if (max_len <= impl->tokenizer->num_special_tokens())
        fail(ErrorCode::InvalidArgument, "max length ", max_len,
             " leaves no room for text after the special tokens");
    impl->max_length = max_len;
    // On a GPU, 32,768 tokens make one batch of a 256-text chunk of typical passages instead of
    // two: 1,000 docs 2-7% faster on an H100 (docs/BENCHMARKS.md).
    impl->batch_tokens =
        options.batch_tokens ? options.batch_tokens : (options.device.is_cpu() ? 16384 : 32768);
    impl->chunk_texts = options.chunk_texts ? options.chunk_texts : 256;
    return EmbeddingModel(std::move(impl));
}

std::vector<int32_t> EmbeddingModel::tokenize(const std::string& text, bool* truncated) const {
    std::vector<int32_t> ids = impl_->tokenizer->encode(text, false);
    const size_t room =
        static_cast<size_t>(impl_->max_length - impl_->tokenizer->num_special_tokens());
    const bool cut = ids.size() > room;
    if (cut) ids.resize(room);  // tokenizers truncates from the right
    if (truncated) *truncated = cut;
    return impl_->tokenizer->add_special_tokens(ids);
}

Tensor EmbeddingModel::encode(const std::vector<std::string>& texts, const std::string& prefix,
                              EmbedStats* stats,
                              const std::function<void(int64_t, int64_t)>& progress) const {
    const int64_t N = static_cast<int64_t>(texts.size()), C = dim();
    Tensor out = Tensor::empty({N, C}, DType::F32);
    if (N == 0) return out;
    const int64_t chunk = impl_->chunk_texts;
    std::lock_guard<std::mutex> lock(impl_->encode_mutex);  // one encode at a time: the slots
    // Lanes where the device has them (a stream each on a GPU): chunk c's work on lane c % lanes,
    // so that one chunk's kernels run in the gaps and tails of another's. FERRIS_EMBED_LANES=n
    // asks for n (default 2).
    const char* asked = std::getenv("FERRIS_EMBED_LANES");
    const int want = asked ? std::max(1, std::atoi(asked)) : 2;
    ops::Lanes lanes(device(), N > chunk ? want : 1);
    // A slot of vectors a lane (at least two): chunk c's come back through slot c % slots, posted
    // on its lane once chunk c - slots' have been taken, so that the device has chunks c - slots
    // + 1 .. c queued while the host waits. The slots are kept (pinned host memory is slow to
    // allocate) and grow with the chunk.
    const int slots = std::max(2, lanes.count());
    const size_t slot_bytes = static_cast<size_t>(std::min(N, chunk) * C) * sizeof(float);
    if (!impl_->readback || impl_->readback_bytes < slot_bytes || impl_->readback_slots < slots) {
        impl_->readback.reset();
        impl_->readback = ops::readback(device(), slots, slot_bytes);
        impl_->readback_bytes = slot_bytes;
        impl_->readback_slots = slots;
    }
    Readback& readback = *impl_->readback;
    EmbedStats st;
    st.texts = N;

    // A chunk whose vectors were queued: their rows of `out` in the order of the slot, the slot,
    // and the device tensor the copy reads (kept alive until taken).
    struct Queued {
        std::vector<int64_t> rows;
        int slot = 0;
        Tensor vectors;
    };
    int64_t done = 0;
    auto collect = [&](Queued& q) {
        if (q.rows.empty()) return;
        const float* v = static_cast<const float*>(readback.take(q.slot));
        for (size_t r = 0; r < q.rows.size(); ++r)
            std::copy_n(v + static_cast<int64_t>(r) * C, C, out.data<float>() + q.rows[r] * C);
        done += static_cast<int64_t>(q.rows.size());
        q = Queued{};
        if (progress) progress(done, N);
    };

    std::vector<Queued> pending(static_cast<size_t>(slots));  // by slot
    int slot = 0;
    for (int64_t c0 = 0; c0 < N; c0 += chunk, slot = (slot + 1) % slots) {
        lanes.use(slot);
        const int64_t c1 = std::min(N, c0 + chunk), n = c1 - c0;
        std::vector<std::vector<int32_t>> ids(static_cast<size_t>(n));
        std::vector<uint8_t> cut(static_cast<size_t>(n));
        // At least four texts a grain, on this thread and the CPU pool's (a chunk of at most
        // four stays on this thread); the first error is rethrown. GPU machine, 16 threads, the
        // first chunk of 100 docs: 202 -> 112 us for e5-small-v2 against grains of sixteen.
        parallel_for(n, 4, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                bool t = false;
                ids[i] = tokenize(prefix + texts[static_cast<size_t>(c0 + i)], &t);
                cut[i] = t;
            }
        });
        for (int64_t i = 0; i < n; ++i) {
            st.tokens += static_cast<int64_t>(ids[i].size());
            st.truncated += cut[i];
        }

        // Longest first; sequences are packed without padding, a batch is texts until its token
        // budget: the chunk's tokens spread evenly over as few batches as batch_tokens allows
        // (three of ~25k rather than 32k, 32k and 12k, so that no small batch is left over; for
        // docs1000 a 256-text chunk is one batch either way), the rest in one batch once it fits.
        // The batches' pooled (and normalized) vectors make one device tensor of the chunk; only
        // that tensor comes back.
        int64_t remaining = 0;
        for (int64_t i = 0; i < n; ++i) remaining += static_cast<int64_t>(ids[i].size());
        const int64_t limit = impl_->batch_tokens;
        const int64_t even = (remaining + (remaining + limit - 1) / limit - 1) /
                             std::max<int64_t>(1, (remaining + limit - 1) / limit);
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return ids[a].size() > ids[b].size(); });
        Queued queued;
        queued.slot = slot;
        std::vector<Tensor> pooled;  // (texts of the batch, C) each, in `queued.rows` order
        for (size_t begin = 0; begin < order.size();) {
            size_t end = begin;
            int64_t budget = remaining <= limit ? remaining : even;
            do {
                budget -= static_cast<int64_t>(ids[order[end]].size());
                remaining -= static_cast<int64_t>(ids[order[end]].size());
                ++end;
            } while (end < order.size() && budget >= static_cast<int64_t>(ids[order[end]].size()));
            std::vector<std::vector<int32_t>> batch;
            std::vector<int32_t> starts = {0};
            for (size_t i = begin; i < end; ++i) {
                batch.push_back(std::move(ids[order[i]]));
                starts.push_back(starts.back() + static_cast<int32_t>(batch.back().size()));
                queued.rows.push_back(c0 + order[i]);
            }
            const Tensor h = impl_->encoder->forward(batch);  // (N, C), packed
            const Tensor segments = ops::to_device(
                Tensor::from_ints({static_cast<int64_t>(starts.size())}, starts), h.device());
            pooled.push_back(ops::pool(h, segments, pool_mode(impl_->pooling), impl_->normalize));
            st.batches += 1;
            begin = end;
        }
        if (pooled.size() == 1) {  // one batch (a query, a small chunk): its vectors as they are
            queued.vectors = pooled.front();
        } else {
            queued.vectors = ops::empty({n, C}, DType::F32, device());
            int64_t r = 0;
            for (const Tensor& p : pooled) {
                Tensor rows = queued.vectors.narrow(0, r, p.size(0));
                ops::copy_(rows, p);
                r += p.size(0);
            }
        }
        // The vectors of the chunk `slots` before this one, now that this chunk is queued behind
        // them: the device goes from chunk to chunk without waiting for the host.
        collect(pending[static_cast<size_t>(slot)]);
        readback.post(slot, queued.vectors);
        pending[static_cast<size_t>(slot)] = std::move(queued);
    }
    for (int k = 0; k < slots; ++k)  // the last chunks', oldest first
        collect(pending[static_cast<size_t>((slot + k) % slots)]);
    lanes.join();
    if (stats) *stats = st;
    return out;
}

int64_t EmbeddingModel::dim() const { return impl_->encoder->config().hidden_size; }
Pooling EmbeddingModel::pooling() const { return impl_->pooling; }
bool EmbeddingModel::normalize() const { return impl_->normalize; }
int64_t EmbeddingModel::max_length() const { return impl_->max_length; }
Device EmbeddingModel::device() const { return impl_->encoder->device(); }
std::string EmbeddingModel::architecture() const {
    return models::encoder::arch_name(impl_->encoder->config().arch);
}
const Tokenizer& EmbeddingModel::tokenizer() const { return *impl_->tokenizer; }
std::string EmbeddingModel::query_prefix() const { return impl_->defaults.query_prefix; }
std::string EmbeddingModel::passage_prefix() const { return impl_->defaults.passage_prefix; }

}  // namespace ferris
