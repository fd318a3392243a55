// A linear layer's weights as Hugging Face stores them, plus an optional unmerged LoRA pair.
// Every projection in every model goes through nn::linear, so adapters need no model changes.
#pragma once

#include <optional>

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
// acc += linear(x, w): one fused product where the backend has it (no adapter attached).
void linear_add_(Tensor& acc, const Tensor& x, const LinearWeights& w);
// silu(linear(x, gate)) * linear(x, up): the SwiGLU MLP's first half, fused likewise.
Tensor swiglu(const Tensor& x, const LinearWeights& gate, const LinearWeights& up);

}  // namespace ferris::nn
