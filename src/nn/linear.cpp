// nn::linear: the base projection plus the LoRA path, kept unmerged (W is never modified).
#include "nn/linear.h"

#include "ops/ops.h"

namespace ferris::nn {

Tensor linear(const Tensor& x, const LinearWeights& w) {
    Tensor y = ops::linear(x, w.weight, w.bias);
    if (w.lora) {
        Tensor ax = ops::linear(x, w.lora->a);
        ops::add_(y, ops::linear(ax, w.lora->b), w.lora->scale);
    }
    return y;
}

void linear_add_(Tensor& acc, const Tensor& x, const LinearWeights& w) {
    if (w.lora) {
        ops::add_(acc, linear(x, w));
        return;
    }
    ops::linear_add_(acc, x, w.weight, w.bias);
}

Tensor linear_gelu(const Tensor& x, const LinearWeights& w) {
    if (w.lora) return ops::gelu(linear(x, w));
    return ops::linear_gelu(x, w.weight, w.bias);
}

Tensor swiglu(const Tensor& x, const LinearWeights& gate, const LinearWeights& up) {
    if (gate.lora || up.lora || gate.bias.defined() || up.bias.defined())
        return ops::silu_mul(linear(x, gate), linear(x, up));
    return ops::swiglu(x, gate.weight, up.weight);
}

namespace {
Tensor stack_rows(const std::vector<Tensor*>& parts, Device device) {
    int64_t rows = 0;
    for (const Tensor* p : parts) rows += p->size(0);
    Shape shape = parts.front()->shape();
    shape[0] = rows;
    Tensor stacked = ops::empty(shape, parts.front()->dtype(), device);
    int64_t at = 0;
    for (Tensor* p : parts) {
        Tensor slot = stacked.narrow(0, at, p->size(0));
        ops::copy_(slot, *p);
        at += p->size(0);
        *p = slot;
    }
    return stacked;
}
}  // namespace

LinearWeights stack_linears(const std::vector<LinearWeights*>& parts, Device device) {
    size_t biased = 0;
    for (const LinearWeights* p : parts) biased += p->bias.defined();
    if (parts.empty() || (biased != 0 && biased != parts.size())) return {};
    std::vector<Tensor*> weights, biases;
    for (LinearWeights* p : parts) {
        weights.push_back(&p->weight);
        biases.push_back(&p->bias);
    }
    LinearWeights stacked;
    stacked.weight = stack_rows(weights, device);
    if (biased) stacked.bias = stack_rows(biases, device);
    return stacked;
}

}  // namespace ferris::nn
