// EncoderModel: a loaded BERT or MPNet checkpoint on one device and its forward pass over a
// right-padded batch. Pooling and normalization live above it (runtime/embed).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/encoder/config.h"
#include "models/encoder/weights.h"

namespace ferris::models::encoder {

struct LoadOptions {
    Device device = Device::cpu();
    std::optional<DType> dtype;  // compute dtype of the matrices; by default the checkpoint's
};

class EncoderModel {
public:
    // `dir` is a Hugging Face folder: config.json + model.safetensors (or shards + index).
    static std::unique_ptr<EncoderModel> load(const std::string& dir, const LoadOptions& options);

    const EncoderConfig& config() const { return config_; }
    Device device() const { return device_; }
    DType weight_dtype() const { return weights_.word_embeddings.dtype(); }

    // Last hidden states (N, C) on the model's device (f32; on a GPU, bf16/f16 when the weights
    // are: the activations' dtype) for B token sequences (each 1 ..
    // config().max_tokens() ids), packed back to back: sequence b is rows
    // sum(len[0..b)) .. + len[b]. Nothing is padded and sequences never see each other.
    Tensor forward(const std::vector<std::vector<int32_t>>& batch) const;

    // MPNet's bucket of a relative position (key - query), as transformers computes it.
    static int64_t relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                            int64_t max_distance = 128);

private:
    // (NH, 2T - 1) f32 on the model's device: the bias of each relative position, -(T-1)..T-1.
    Tensor relative_bias(int64_t T) const;

    EncoderConfig config_;
    EncoderWeights weights_;
    std::vector<float> bias_table_;  // (NB, NH) host copy of relative_attention_bias (MPNet)
    Device device_;
    std::shared_ptr<void> keepalive_;  // the mapped checkpoint
};

}  // namespace ferris::models::encoder
