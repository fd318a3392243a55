// DeviceStepper: decoding with the per-token step recorded once (a CUDA graph on the GPU, a plain
// function on the CPU) and replayed: Qwen2Model::forward_step, then the token choice on the device
// (argmax for plain greedy, else the `sample` op), written where the next step reads it. Per token
// one small upload goes to the device (position, key count and the uniform draw when sampling)
// and one id comes back. The uniform stream is the host Sampler's (Rng(seed), one uniform_double
// per sampled token), and the CPU's op is the Sampler's math: a seed gives the same tokens.
// step() runs one step ahead: the next step is queued before it waits for this one's token, so the
// device does not wait for the host between tokens. A step queued ahead and not taken is dropped
// without a trace: its cache row is written again, its draw given back, its seen mark undone.
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
    ~DeviceStepper();  // waits for a step queued ahead
    DeviceStepper(const DeviceStepper&) = delete;
    DeviceStepper& operator=(const DeviceStepper&) = delete;

    // Runs `ids` (the prompt) at positions cache.length().., advances the cache, and chooses the
    // first token from the last position's logits with the same op (not recorded).
    int32_t prefill(const std::vector<int32_t>& ids);
    // Feeds `token` at position cache.length(), advances the cache, returns the chosen token.
    int32_t step(int32_t token);
    // Same, feeding the token chosen last (still on the device). Before it waits, the step after
    // it is queued, when the cache has room for it and it needs no new recording.
    int32_t step();
    // Whether step() queues the next step before it waits (the default on a GPU; on the CPU the
    // work runs at once, so queuing ahead only risks a step that is dropped).
    void set_run_ahead(bool on) { run_ahead_ = on; }
    // Records the step now (otherwise the first step() does): needs room for one more token.
    void record();
    // Benchmarks: replays the recorded step `n` times back to back at the current position
    // (nothing moves, nothing is read back) and waits for the device: the GPU time of a step.
    void replay_only(int n);

private:
    void choose(const Tensor& logits);  // token_ = the choice from logits (1, V)
    // params_ = (position, position + 1, the stream's next draw when `draw` and sampling).
    void upload_params(int64_t position, bool draw);
    bool needs_new_recording(int64_t position) const;
    void queue(int64_t position);  // the step at `position`, its token posted for take()
    int32_t take();                // waits for the oldest queued step's token
    void drop_ahead();             // takes a step queued ahead and undoes its draw and mark
    int32_t read_token() const;

    const models::qwen2::Qwen2Model& model_;
    nn::KvCache& cache_;
    Device device_;
    SampleOptions options_;
    bool greedy_;              // temperature 0 and no penalty: argmax, no seen mask or uniform
    bool whole_stack_ = true;  // the recorded step runs the layers as one op (see step())
    bool run_ahead_;
    Rng rng_;         // the uniform stream (drawn only when temperature > 0)
    Tensor token_;    // (1) i32: the step's input, overwritten by its choice
    Tensor params_;   // (4) i32: where_ and uniform_, uploaded in one copy
    Tensor where_;    // (2) i32 view of params_: position, key count
    Tensor seen_;     // (V) i32: prompt and chosen ids (repetition penalty), updated by the op
    Tensor uniform_;  // (1) i64 view of params_: this choice's uniform draw, u * 2^53
    Tensor logits_;   // (1, V): kept alive, the recorded step writes into it
    std::unique_ptr<RecordedStep> step_;
    std::unique_ptr<Readback> tokens_;  // two slots: the step being taken, the one queued ahead
    int queued_ = 0;                    // steps queued and not taken (0, 1 or 2)
    int oldest_slot_ = 0;
    Rng rng_ahead_;      // rng_ before the step queued ahead drew
    Tensor seen_ahead_;  // seen_ before the step queued ahead marked its token
};

}  // namespace ferris::runtime
