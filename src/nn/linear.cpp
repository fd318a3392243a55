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

Tensor swiglu(const Tensor& x, const LinearWeights& gate, const LinearWeights& up) {
    if (gate.lora || up.lora || gate.bias.defined() || up.bias.defined())
        return ops::silu_mul(linear(x, gate), linear(x, up));
    return ops::swiglu(x, gate.weight, up.weight);
}

}  // namespace ferris::nn
