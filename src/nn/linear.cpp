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

}  // namespace ferris::nn
