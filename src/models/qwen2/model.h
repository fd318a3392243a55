// Qwen2Model: a loaded Qwen2 / Qwen2.5 checkpoint on one device, and its forward pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/qwen2/config.h"
#include "models/qwen2/weights.h"
#include "nn/kv_cache.h"

namespace ferris::models::qwen2 {

struct LoadOptions {
    Device device = Device::cpu();
    // Compute dtype of the weights; by default the checkpoint's own.
    std::optional<DType> dtype;
};

class Qwen2Model {
public:
    // `dir` is a Hugging Face model folder: config.json + model.safetensors (or shards + index).
    static std::unique_ptr<Qwen2Model> load(const std::string& dir, const LoadOptions& options);

    const Qwen2Config& config() const { return config_; }
    Qwen2Weights& weights() { return weights_; }
    Device device() const { return device_; }
    DType weight_dtype() const { return weights_.embed_tokens.dtype(); }

    nn::KvCache new_cache(int64_t capacity, DType dtype) const;

    // Runs ids (T) of one sequence at positions cache.length() .. + T, appends their keys and
    // values to the cache, and returns the final normed hidden states (T, C) f32.
    Tensor forward_hidden(const std::vector<int32_t>& ids, nn::KvCache& cache) const;
    // Logits (T, V) for hidden states (T, C).
    Tensor logits(const Tensor& hidden) const;
    // Logits of the last position only (1, V): what generation needs.
    Tensor forward_last(const std::vector<int32_t>& ids, nn::KvCache& cache) const;
    // One decode step with its inputs on the device, so it can be recorded and replayed (a CUDA
    // graph): token (1) i32 at `position` (1) i32, written to that cache row; the query sees
    // `keys` (1) i32 = position + 1 keys. Returns logits (1, V); the caller advances the cache.
    // `whole_stack`: the layers may run as one decoder_layers op (a persistent kernel on a GPU,
    // faster at short contexts); false keeps one op per step of each layer.
    Tensor forward_step(const Tensor& token, const Tensor& position, const Tensor& keys,
                        nn::KvCache& cache, bool whole_stack = true) const;
    // forward_step (whole stack) and the greedy choice: token = argmax of the logits, in place.
    // One decoder_greedy_step op (on a GPU one persistent kernel, embedding to argmax) where the
    // stack fuses; else forward_step and argmax_.
    Tensor forward_step_greedy(Tensor& token, const Tensor& position, const Tensor& keys,
                               nn::KvCache& cache) const;

private:
    Tensor queries_and_cache_write(int64_t layer, const Tensor& x, const Tensor& positions,
                                   nn::KvCache& cache) const;

    Qwen2Config config_;
    Qwen2Weights weights_;
    Device device_;
    std::shared_ptr<void> keepalive_;  // the mapped checkpoint
};

}  // namespace ferris::models::qwen2
