// DeviceStepper: decoding with the per-token step recorded once (a CUDA graph on the GPU, a plain
// function on the CPU) and replayed: Qwen2Model::forward_step, then the token choice on the device
// (argmax for plain greedy, else the `sample` op), written where the next step reads it. Per token
// only small uploads go to the device (position, key count, and the uniform draw when sampling)
// and one id comes back. The uniform stream is the host Sampler's (Rng(seed), one uniform_double
// per sampled token), and the CPU's op is the Sampler's math: a seed gives the same tokens.
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "ferris/rng.h"
#include "models/qwen2/model.h"
#include "runtime/sampler.h"

namespace ferris::runtime {

class DeviceStepper {
public:
    // `cache` must outlive the stepper. `prompt`: the ids the repetition penalty starts from.
    DeviceStepper(const models::qwen2::Qwen2Model& model, nn::KvCache& cache,
                  const SamplingParams& sampling, const std::vector<int32_t>& prompt);

    // Runs `ids` (the prompt) at positions cache.length().., advances the cache, and chooses the
    // first token from the last position's logits with the same op (not recorded).
    int32_t prefill(const std::vector<int32_t>& ids);
    // Feeds `token` at position cache.length(), advances the cache, returns the chosen token.
    int32_t step(int32_t token);
    // Same, feeding the token chosen last (still on the device).
    int32_t step();
    // Records the step now (otherwise the first step() does): needs room for one more token.
    void record();
    // Benchmarks: replays the recorded step `n` times back to back at the current position
    // (nothing moves, nothing is read back) and waits for the device: the GPU time of a step.
    void replay_only(int n);

private:
    void choose(const Tensor& logits);  // token_ = the choice from logits (1, V)
    void draw_uniform();                // uniform_ = the stream's next draw, when sampling
    void set_position();
    int32_t read_token() const;

    const models::qwen2::Qwen2Model& model_;
    nn::KvCache& cache_;
    Device device_;
    SampleOptions options_;
    bool greedy_;              // temperature 0 and no penalty: argmax, no seen mask or uniform
    bool whole_stack_ = true;  // the recorded step runs the layers as one op (see step())
    Rng rng_;                  // the uniform stream (drawn only when temperature > 0)
    Tensor token_;             // (1) i32: the step's input, overwritten by its choice
    Tensor where_;             // (2) i32: position, key count
    Tensor seen_;     // (V) i32: prompt and chosen ids (repetition penalty), updated by the op
    Tensor uniform_;  // (1) i64: this choice's uniform draw, u * 2^53
    Tensor logits_;   // (1, V): kept alive, the recorded step writes into it
    std::unique_ptr<RecordedStep> step_;
};

}  // namespace ferris::runtime
