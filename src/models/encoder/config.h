// Configuration of the sentence encoders: BERT (E5, MiniLM) and MPNet, as read from a Hugging Face
// config.json ("model_type": "bert" or "mpnet"). Both are post-LayerNorm transformer encoders; the
// architecture flag selects embeddings (token types vs MPNet's padding-offset positions) and
// MPNet's relative position bias. Options that are not implemented are rejected by name.
#pragma once

#include <string>
#include <vector>

#include "ferris/dtype.h"

namespace ferris::models::encoder {

enum class Arch { Bert, MPNet };
const char* arch_name(Arch arch);  // "bert", "mpnet" (the config's model_type)

struct EncoderConfig {
    Arch arch = Arch::Bert;
    int64_t vocab_size = 0;           // V
    int64_t hidden_size = 0;          // C
    int64_t intermediate_size = 0;    // I
    int64_t num_hidden_layers = 0;    // L
    int64_t num_attention_heads = 0;  // NH
    int64_t head_dim = 0;             // HS = C / NH
    int64_t max_position_embeddings = 0;
    int64_t type_vocab_size = 2;  // BERT token types (MPNet has none)
    int64_t pad_token_id = 0;     // MPNet positions start after it
    double layer_norm_eps = 1e-12;
    int64_t relative_attention_num_buckets = 32;  // MPNet
    DType dtype = DType::F32;

    static EncoderConfig from_json_text(const std::string& text, const std::string& source);
    static EncoderConfig from_file(const std::string& path);
    std::string to_json_text() const;
    // The longest input the position table allows (MPNet's positions start at pad_token_id + 1).
    int64_t max_tokens() const;
    int64_t parameter_count() const;
};

// Real model shapes for create-model: "e5-small-v2", "all-minilm-l6-v2" (BERT),
// "all-mpnet-base-v2" (MPNet), and "tiny" (either architecture) for tests.
EncoderConfig preset(Arch arch, const std::string& name);
std::vector<std::string> preset_names(Arch arch);

}  // namespace ferris::models::encoder
