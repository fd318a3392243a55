// GreedyStepper: greedy decoding with the per-token step recorded once (a CUDA graph on the GPU,
// a plain function on the CPU) and replayed. The argmax runs on the device and writes the next
// token where the next step reads it, so per token only two ints go to the device (position,
// key count) and one comes back (the id, to stream and check for a stop).
#pragma once

#include <memory>

#include "backends/backend.h"
#include "models/qwen2/model.h"

namespace ferris::runtime {

class GreedyStepper {
public:
    // Records the step for `cache` (which must outlive the stepper); the cache keeps its length.
    GreedyStepper(const models::qwen2::Qwen2Model& model, nn::KvCache& cache);

    // Feeds `token` at position cache.length(), advances the cache, returns the argmax token.
    int32_t step(int32_t token);
    // Same, feeding the token the previous step chose (still on the device).
    int32_t step();

private:
    void set_position();

    nn::KvCache& cache_;
    Device device_;
    Tensor token_;   // (1) i32: the step's input, overwritten by its argmax
    Tensor where_;   // (2) i32: position, key count
    Tensor logits_;  // (1, V): kept alive, the recorded step writes into it
    std::unique_ptr<RecordedStep> step_;
};

}  // namespace ferris::runtime
