// Encoder weights: one struct for BERT and MPNet, Hugging Face tensor names mapped onto it (with
// or without the "bert." / "mpnet." prefix that *ForMaskedLM checkpoints carry), every shape
// checked against the config. Heads (pooler, MLM) are ignored; anything else unexpected is listed.
#pragma once

#include <string>
#include <vector>

#include "ferris/safetensors.h"
#include "models/encoder/config.h"
#include "nn/linear.h"

namespace ferris::models::encoder {

// BERT names (encoder.layer.{i}.): attention.self.{query,key,value}, attention.output.dense,
// attention.output.LayerNorm, intermediate.dense, output.dense, output.LayerNorm.
// MPNet names: attention.attn.{q,k,v,o}, attention.LayerNorm, and the same three MLP ones.
struct LayerWeights {
    nn::LinearWeights query;     // (C, C)
    nn::LinearWeights key;       // (C, C)
    nn::LinearWeights value;     // (C, C)
    nn::LinearWeights attn_out;  // (C, C)  attention.output.dense / attention.attn.o
    Tensor attn_norm_weight;     // (C)     attention.output.LayerNorm / attention.LayerNorm
    Tensor attn_norm_bias;       // (C)
    nn::LinearWeights mlp_up;    // (I, C)  intermediate.dense
    nn::LinearWeights mlp_down;  // (C, I)  output.dense
    Tensor out_norm_weight;      // (C)     output.LayerNorm
    Tensor out_norm_bias;        // (C)
    // On a GPU: query, key and value stacked into one product ((3C, C), bias (3C)); the three
    // are then views of its rows. Undefined on the CPU (no copy of the mapped weights).
    nn::LinearWeights qkv;
};

struct EncoderWeights {
    Tensor word_embeddings;          // (V, C)        embeddings.word_embeddings.weight
    Tensor position_embeddings;      // (P, C)        embeddings.position_embeddings.weight
    Tensor token_type_embeddings;    // (TT, C)     embeddings.token_type_embeddings.weight (BERT)
    Tensor embed_norm_weight;        // (C)           embeddings.LayerNorm.weight
    Tensor embed_norm_bias;          // (C)           embeddings.LayerNorm.bias
    Tensor relative_attention_bias;  // (NB, NH)  encoder.relative_attention_bias.weight (MPNet)
    std::vector<LayerWeights> layers;
};

struct WeightSlot {
    std::string name;  // without the checkpoint's prefix
    Shape shape;
    Tensor* target;
};
std::vector<WeightSlot> weight_slots(const EncoderConfig& config, EncoderWeights& weights);

// "bert." / "mpnet." when the checkpoint's names carry it, else "".
std::string checkpoint_prefix(const EncoderConfig& config, const io::Checkpoint& checkpoint);

// Every missing, misshapen or unexpected tensor, one line each (empty: the checkpoint fits).
std::vector<std::string> check_weights(const EncoderConfig& config,
                                       const io::Checkpoint& checkpoint);

// Reads, checks, converts to `dtype` (LayerNorm parameters and the bias table stay f32) and moves
// every tensor to `device`.
EncoderWeights load_weights(const EncoderConfig& config, const io::Checkpoint& checkpoint,
                            DType dtype, Device device);

}  // namespace ferris::models::encoder
