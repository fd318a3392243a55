// Qwen2 weights: one struct, Hugging Face tensor names mapped onto it, every shape checked
// against the config. Loading lists every missing, misshapen or unexpected tensor at once.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ferris/safetensors.h"
#include "models/qwen2/config.h"
#include "nn/linear.h"

namespace ferris::models::qwen2 {

struct LayerWeights {
    Tensor input_layernorm;           // (C)          model.layers.{i}.input_layernorm.weight
    nn::LinearWeights q_proj;         // (NH*HS, C)   self_attn.q_proj.{weight,bias}
    nn::LinearWeights k_proj;         // (NKV*HS, C)  self_attn.k_proj.{weight,bias}
    nn::LinearWeights v_proj;         // (NKV*HS, C)  self_attn.v_proj.{weight,bias}
    nn::LinearWeights o_proj;         // (C, NH*HS)   self_attn.o_proj.weight (no bias)
    Tensor post_attention_layernorm;  // (C)          post_attention_layernorm.weight
    nn::LinearWeights gate_proj;      // (I, C)       mlp.gate_proj.weight
    nn::LinearWeights up_proj;        // (I, C)       mlp.up_proj.weight
    nn::LinearWeights down_proj;      // (C, I)       mlp.down_proj.weight
    // On a GPU: q, k and v stacked in one product (((NH + 2 NKV) HS, C), bias likewise); then
    // q_proj/k_proj/v_proj are views of its rows. Undefined on the CPU (no copy of mapped weights).
    nn::LinearWeights qkv_proj;
};

struct Qwen2Weights {
    Tensor embed_tokens;  // (V, C)  model.embed_tokens.weight
    std::vector<LayerWeights> layers;
    Tensor norm;     // (C)     model.norm.weight
    Tensor lm_head;  // (V, C)  lm_head.weight, or embed_tokens when tied

    // The projection named by its HF module path ("model.layers.3.self_attn.q_proj"), or null.
    nn::LinearWeights* find_linear(const std::string& module);
};

// One expected tensor: its HF name, shape and where it goes in the struct.
struct WeightSlot {
    std::string name;
    Shape shape;
    Tensor* target;
};
std::vector<WeightSlot> weight_slots(const Qwen2Config& config, Qwen2Weights& weights);

// Every missing, misshapen or unexpected tensor, one line each (empty: the checkpoint fits).
std::vector<std::string> check_weights(const Qwen2Config& config, const io::Checkpoint& checkpoint);

// Reads every tensor from `checkpoint` (zero-copy views on CPU), checks it, converts matrices to
// `dtype` and vectors (norm weights, biases) to f32, and moves them to `device`.
Qwen2Weights load_weights(const Qwen2Config& config, const io::Checkpoint& checkpoint, DType dtype,
                          Device device);

}  // namespace ferris::models::qwen2
