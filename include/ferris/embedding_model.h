// EmbeddingModel: sentence embeddings from a Hugging Face / sentence-transformers folder (BERT:
// E5, MiniLM; MPNet), text in, pooled and normalized vectors out, exactly as
// sentence-transformers computes them. Texts are sorted by length and packed into batches by a
// token budget without padding; a text's vector does not depend on what it is batched with.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferris/device.h"
#include "ferris/tensor.h"
#include "ferris/tokenizer.h"

namespace ferris {

enum class Pooling { Mean, Cls, Max };
const char* pooling_name(Pooling pooling);       // "mean", "cls", "max"
Pooling parse_pooling(const std::string& name);  // throws InvalidArgument

// Known checkpoints: each picks the pooling, normalization, maximum length and prompts its
// authors use when the folder does not say. Auto reads the folder only.
enum class EmbeddingModelType { Auto, E5SmallV2, AllMiniLmL6V2, AllMpnetBaseV2 };
// "auto", "e5-small-v2", "all-minilm-l6-v2", "all-mpnet-base-v2" (case-insensitive).
EmbeddingModelType parse_embedding_model_type(const std::string& name);

struct EmbeddingOptions {
    Device device = Device::cpu();
    std::optional<DType> dtype;  // compute dtype; by default the checkpoint's
    EmbeddingModelType type = EmbeddingModelType::Auto;
    // Each unset field comes from the folder (1_Pooling/config.json, a Normalize module in
    // modules.json, sentence_bert_config.json), then the model type, then mean / true / the
    // model's maximum.
    std::optional<Pooling> pooling;
    std::optional<bool> normalize;
    std::optional<int64_t> max_length;  // tokens, special tokens included
    // Tokens per forward batch (texts packed, no padding); 0: 32,768 on a GPU (fewer, larger
    // products), 16,384 on the CPU.
    int64_t batch_tokens = 0;
    // Texts tokenized at a time (0: 256). A chunk is sorted by length and cut into batches as a
    // whole, and its batches are queued before the next chunk is tokenized: larger chunks make
    // fuller batches, smaller ones start the device sooner.
    int64_t chunk_texts = 0;
};

struct EmbedStats {
    int64_t texts = 0;
    int64_t tokens = 0;     // real tokens, special tokens included
    int64_t truncated = 0;  // texts cut at max_length
    int64_t batches = 0;
};

class EmbeddingModel {
public:
    static EmbeddingModel from_dir(const std::string& dir, Device device = Device::cpu(),
                                   EmbeddingModelType type = EmbeddingModelType::Auto);
    static EmbeddingModel from_dir(const std::string& dir, const EmbeddingOptions& options);
    EmbeddingModel(EmbeddingModel&&) noexcept;
    EmbeddingModel& operator=(EmbeddingModel&&) noexcept;
    ~EmbeddingModel();

    // (N, D) f32 on the host, one row per text in order. `prefix` is prepended to every text
    // (E5 expects "query: " or "passage: "). Texts must be valid UTF-8. `progress` is called
    // after each batch with (texts done, texts).
    Tensor encode(const std::vector<std::string>& texts, const std::string& prefix = "",
                  EmbedStats* stats = nullptr,
                  const std::function<void(int64_t, int64_t)>& progress = {}) const;
    // The ids encode() runs for one text (special tokens added, truncated at max_length).
    std::vector<int32_t> tokenize(const std::string& text, bool* truncated = nullptr) const;

    int64_t dim() const;
    Pooling pooling() const;
    bool normalize() const;
    int64_t max_length() const;
    Device device() const;
    std::string architecture() const;  // "bert" or "mpnet"
    const Tokenizer& tokenizer() const;
    // The prompts the model type expects ("query: " / "passage: " for E5; "" otherwise).
    std::string query_prefix() const;
    std::string passage_prefix() const;

private:
    struct Impl;
    explicit EmbeddingModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ferris
