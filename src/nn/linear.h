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

}  // namespace ferris::nn
