// GreedyStepper (see greedy_stepper.h).
#include "runtime/greedy_stepper.h"

#include "ops/ops.h"

namespace ferris::runtime {

GreedyStepper::GreedyStepper(const models::qwen2::Qwen2Model& model, nn::KvCache& cache)
    : cache_(cache), device_(model.device()) {
    if (cache.length() >= cache.capacity())
        fail(ErrorCode::InvalidArgument, "KV cache full: no room for a decode step");
    token_ = ops::to_device(Tensor::from_ints({1}, {0}), device_);
    set_position();
    const Tensor position = where_.narrow(0, 0, 1), keys = where_.narrow(0, 1, 1);
    auto body = [this, &model, position, keys] {
        logits_ = model.forward_step(token_, position, keys, cache_);
        ops::argmax_(token_, logits_);
    };
    // One plain run first: lazy state (rope tables, GEMM plans, scratch) is made outside the
    // recording. It writes a row the first real step overwrites.
    body();
    step_ = ops::record(device_, body);
}

void GreedyStepper::set_position() {
    const int32_t pos = static_cast<int32_t>(cache_.length());
    const Tensor host = Tensor::from_ints({2}, {pos, pos + 1});
    if (!where_.defined()) {
        where_ = ops::to_device(host, device_);
    } else {
        ops::copy_(where_, host);
    }
}

int32_t GreedyStepper::step(int32_t token) {
    ops::copy_(token_, Tensor::from_ints({1}, {token}));
    return step();
}

int32_t GreedyStepper::step() {
    if (cache_.length() >= cache_.capacity())
        fail(ErrorCode::InvalidArgument, "KV cache full: ", cache_.capacity(), " positions");
    set_position();
    step_->replay();
    cache_.advance(1);
    return ops::to_device(token_, Device::cpu()).data<int32_t>()[0];
}

}  // namespace ferris::runtime
