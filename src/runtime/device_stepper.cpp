// DeviceStepper (see device_stepper.h).
#include "runtime/device_stepper.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ops/ops.h"

namespace ferris::runtime {

DeviceStepper::DeviceStepper(const models::qwen2::Qwen2Model& model, nn::KvCache& cache,
                             const SamplingParams& sampling, const std::vector<int32_t>& prompt)
    : model_(model),
      cache_(cache),
      device_(model.device()),
      options_(sampling),
      greedy_(sampling.temperature == 0.0f && sampling.repetition_penalty == 1.0f),
      run_ahead_(!device_.is_cpu()),
      rng_(sampling.seed) {
    sampling.validate();
    token_ = ops::to_device(Tensor::from_ints({1}, {0}), device_);
    params_ = ops::to_device(Tensor::from_ints({4}, {0, 1, 0, 0}), device_);
    where_ = params_.narrow(0, 0, 2);
    uniform_ = Tensor(params_.storage(), params_.byte_offset() + 2 * sizeof(int32_t), {1}, {1},
                      DType::I64);
    if (!greedy_) {
        const int64_t vocab = model.config().vocab_size;
        seen_ = ops::to_device(
            Tensor::from_ints({vocab}, seen_mask(prompt, static_cast<size_t>(vocab))), device_);
        seen_ahead_ = ops::empty(seen_.shape(), DType::I32, device_);
    }
    tokens_ = ops::readback(device_, 2, sizeof(int32_t));
}

DeviceStepper::~DeviceStepper() {
    // The readback's own destructor waits for its copies; this also gives the queued step back.
    try {
        while (queued_ > 0) (void)take();
    } catch (...) {  // a device error already reported by the step that met it
    }
}

void DeviceStepper::choose(const Tensor& logits) {
    if (greedy_) {
        ops::argmax_(token_, logits);
    } else {
        ops::sample_(token_, logits, seen_, uniform_, options_);
    }
}

void DeviceStepper::upload_params(int64_t position, bool draw) {
    int64_t u = 0;  // greedy draws nothing, like the Sampler
    if (draw && options_.temperature != 0.0f)
        u = static_cast<int64_t>(rng_.uniform_double() * kSampleUniformScale);
    const auto word = [u](int k) {
        return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(u) >> (32 * k)));
    };  // the i64 view's two words, low first (both devices are little-endian)
    const int32_t pos = static_cast<int32_t>(position);
    ops::copy_(params_, Tensor::from_ints({4}, {pos, pos + 1, word(0), word(1)}));
}

int32_t DeviceStepper::read_token() const {
    return ops::to_device(token_, Device::cpu()).data<int32_t>()[0];
}

int32_t DeviceStepper::prefill(const std::vector<int32_t>& ids) {
    drop_ahead();
    const Tensor logits = model_.forward_last(ids, cache_);
    upload_params(cache_.length(), true);
    choose(logits);
    return read_token();
}

// The whole layer stack as one op (on a GPU the persistent decode kernel) while the query sees
// at most this many keys: no limit since the kernel's attention runs on tensor cores, a block per
// (kv head, key split) (H100, Qwen2.5-0.5B, same call: a step of 710 against 974 us for the
// separate kernels after a short prompt, 782 against 1,187 us at 2,048 keys). Before, it gave
// each q head's split to a block, and the separate kernels were faster past 512 keys.
constexpr int64_t kWholeStackMaxKeys = std::numeric_limits<int64_t>::max();
// FERRIS_WHOLE_STACK_MAX_KEYS overrides it, for A/B runs of the crossover (scripts/device).
int64_t whole_stack_max_keys() {
    static const int64_t keys = [] {
        const char* env = std::getenv("FERRIS_WHOLE_STACK_MAX_KEYS");
        return env ? std::max<int64_t>(0, std::atoll(env)) : kWholeStackMaxKeys;
    }();
    return keys;
}

bool DeviceStepper::needs_new_recording(int64_t position) const {
    // Past the crossover the step is recorded again, one op per layer step.
    return !step_ || (whole_stack_ && position + 1 > whole_stack_max_keys());
}

void DeviceStepper::record() {
    if (step_) return;
    if (cache_.length() >= cache_.capacity())
        fail(ErrorCode::InvalidArgument, "KV cache full: no room for a decode step");
    upload_params(cache_.length(), false);
    const Tensor position = where_.narrow(0, 0, 1), keys = where_.narrow(0, 1, 1);
    whole_stack_ = cache_.length() + 1 <= whole_stack_max_keys();
    auto body = [this, position, keys, whole = whole_stack_] {
        if (greedy_ && whole) {  // embedding to argmax in one op (one kernel on a GPU)
            logits_ = model_.forward_step_greedy(token_, position, keys, cache_);
            return;
        }
        logits_ = model_.forward_step(token_, position, keys, cache_, whole);
        choose(logits_);
    };
    // One plain run first: lazy state (rope tables, GEMM plans, scratch) is made outside the
    // recording. It writes a cache row the first real step overwrites; its choice is undone
    // (the token it overwrote and the seen mask are restored).
    Tensor seen_before;
    if (seen_.defined()) {
        seen_before = ops::empty(seen_.shape(), DType::I32, device_);
        ops::copy_(seen_before, seen_);
    }
    Tensor token_before = ops::empty({1}, DType::I32, device_);
    ops::copy_(token_before, token_);
    body();
    ops::copy_(token_, token_before);
    if (seen_.defined()) ops::copy_(seen_, seen_before);
    step_ = ops::record(device_, body);
}

void DeviceStepper::queue(int64_t position) {
    if (needs_new_recording(position)) {  // only with nothing queued: position is the length
        step_.reset();
        record();
    }
    upload_params(position, true);
    step_->replay();
    tokens_->post((oldest_slot_ + queued_) % 2, token_);
    ++queued_;
}

int32_t DeviceStepper::take() {
    int32_t token = 0;
    std::memcpy(&token, tokens_->take(oldest_slot_), sizeof token);
    oldest_slot_ ^= 1;
    --queued_;
    return token;
}

void DeviceStepper::drop_ahead() {
    if (queued_ == 0) return;
    (void)take();
    if (options_.temperature != 0.0f) rng_ = rng_ahead_;
    if (seen_.defined()) ops::copy_(seen_, seen_ahead_);
}

int32_t DeviceStepper::step(int32_t token) {
    drop_ahead();
    ops::copy_(token_, Tensor::from_ints({1}, {token}));
    return step();
}

void DeviceStepper::replay_only(int n) {
    drop_ahead();
    record();
    upload_params(cache_.length(), false);
    for (int i = 0; i < n; ++i) step_->replay();
    (void)read_token();  // waits for the device
}

int32_t DeviceStepper::step() {
    if (queued_ == 0) {
        if (cache_.length() >= cache_.capacity())
            fail(ErrorCode::InvalidArgument, "KV cache full: ", cache_.capacity(), " positions");
        queue(cache_.length());
    }
    // The next step, queued before this one is waited for (its input is this one's choice, on
    // the device). Not where it would need a new recording: that runs a step of its own first.
    const int64_t next = cache_.length() + 1;
    if (run_ahead_ && next < cache_.capacity() && !needs_new_recording(next)) {
        rng_ahead_ = rng_;
        if (seen_.defined()) ops::copy_(seen_ahead_, seen_);
        queue(next);
    }
    const int32_t token = take();
    cache_.advance(1);
    return token;
}

}  // namespace ferris::runtime
