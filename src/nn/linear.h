// A linear layer's weights as Hugging Face stores them, plus an optional unmerged LoRA pair.
// Every projection in every model goes through nn::linear, so adapters need no model changes.
#pragma once

#include <optional>
#include <vector>

#include "ferris/tensor.h"

namespace ferris::nn {

struct Lora {
    Tensor a;            // (r, I)  ...lora_A.weight
    Tensor b;            // (O, r)  ...lora_B.weight
    float scale = 0.0f;  // alpha / r, or alpha / sqrt(r) with rsLoRA
};

struct LinearWeights {
    Tensor weight;  // (O, I)
    Tensor bias;    // (O) or undefined
    std::optional<Lora> lora;
};

// y = x W^T + b + scale * (x A^T) B^T
Tensor linear(const Tensor& x, const LinearWeights& w);
// gelu(linear(x, w)): one fused op where the backend has it (no adapter attached).
Tensor linear_gelu(const Tensor& x, const LinearWeights& w);
// acc += linear(x, w): one fused product where the backend has it (no adapter attached).
void linear_add_(Tensor& acc, const Tensor& x, const LinearWeights& w);
// silu(linear(x, gate)) * linear(x, up): the SwiGLU MLP's first half, fused likewise.
Tensor swiglu(const Tensor& x, const LinearWeights& gate, const LinearWeights& up);

// One product for several that read the same input (q, k and v): their weights and biases
// stacked by rows into new tensors on `device`, each part's becoming a view of its rows (no extra
// memory once the originals are released). Undefined when the parts mix biased and unbiased.
LinearWeights stack_linears(const std::vector<LinearWeights*>& parts, Device device);

}  // namespace ferris::nn
