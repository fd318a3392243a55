// DeviceStepper (see device_stepper.h).
#include "runtime/device_stepper.h"

#include <algorithm>
#include <cstdlib>

#include "ops/ops.h"

namespace ferris::runtime {

DeviceStepper::DeviceStepper(const models::qwen2::Qwen2Model& model, nn::KvCache& cache,
                             const SamplingParams& sampling, const std::vector<int32_t>& prompt)
    : model_(model),
      cache_(cache),
      device_(model.device()),
      options_(sampling),
      greedy_(sampling.temperature == 0.0f && sampling.repetition_penalty == 1.0f),
      rng_(sampling.seed) {
    sampling.validate();
    token_ = ops::to_device(Tensor::from_ints({1}, {0}), device_);
    if (!greedy_) {
        const int64_t vocab = model.config().vocab_size;
        seen_ = ops::to_device(
            Tensor::from_ints({vocab}, seen_mask(prompt, static_cast<size_t>(vocab))), device_);
        uniform_ = ops::to_device(Tensor::zeros({1}, DType::I64), device_);
    }
}

void DeviceStepper::choose(const Tensor& logits) {
    if (greedy_) {
        ops::argmax_(token_, logits);
    } else {
        ops::sample_(token_, logits, seen_, uniform_, options_);
    }
}

void DeviceStepper::draw_uniform() {
    if (options_.temperature == 0.0f) return;  // greedy draws nothing, like the Sampler
    Tensor host = Tensor::empty({1}, DType::I64);
    host.data<int64_t>()[0] = static_cast<int64_t>(rng_.uniform_double() * kSampleUniformScale);
    ops::copy_(uniform_, host);
}

int32_t DeviceStepper::read_token() const {
    return ops::to_device(token_, Device::cpu()).data<int32_t>()[0];
}

int32_t DeviceStepper::prefill(const std::vector<int32_t>& ids) {
    const Tensor logits = model_.forward_last(ids, cache_);
    draw_uniform();
    choose(logits);
    return read_token();
}

void DeviceStepper::set_position() {
    const int32_t pos = static_cast<int32_t>(cache_.length());
    const Tensor host = Tensor::from_ints({2}, {pos, pos + 1});
    if (!where_.defined()) {
        where_ = ops::to_device(host, device_);
    } else {
        ops::copy_(where_, host);
    }
}

// The whole layer stack as one op (on a GPU the persistent decode kernel) while the query sees
// at most this many keys; past it the separate kernels are faster, as the persistent kernel's
// attention gives each head's split to one block (H100, Qwen2.5-0.5B, same call: 802-803 against
// 945 us a step after a short prompt; 1,188 against 1,153 us at 2,048 keys).
constexpr int64_t kWholeStackMaxKeys = 512;
// FERRIS_WHOLE_STACK_MAX_KEYS overrides it, for A/B runs of the crossover (scripts/device).
int64_t whole_stack_max_keys() {
    static const int64_t keys = [] {
        const char* env = std::getenv("FERRIS_WHOLE_STACK_MAX_KEYS");
        return env ? std::max<int64_t>(0, std::atoll(env)) : kWholeStackMaxKeys;
    }();
    return keys;
}

void DeviceStepper::record() {
    if (step_) return;
    if (cache_.length() >= cache_.capacity())
        fail(ErrorCode::InvalidArgument, "KV cache full: no room for a decode step");
    set_position();
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

int32_t DeviceStepper::step(int32_t token) {
    ops::copy_(token_, Tensor::from_ints({1}, {token}));
    return step();
}

void DeviceStepper::replay_only(int n) {
    record();
    set_position();
    for (int i = 0; i < n; ++i) step_->replay();
    (void)read_token();  // waits for the device
}

int32_t DeviceStepper::step() {
    if (cache_.length() >= cache_.capacity())
        fail(ErrorCode::InvalidArgument, "KV cache full: ", cache_.capacity(), " positions");
    if (step_ && whole_stack_ && cache_.length() + 1 > whole_stack_max_keys())
        step_.reset();  // past the crossover: record the step again, one op per layer step
    record();
    set_position();
    draw_uniform();
    step_->replay();
    cache_.advance(1);
    return read_token();
}

}  // namespace ferris::runtime
