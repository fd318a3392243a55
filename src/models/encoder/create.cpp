// create_random_encoder: seeded uniform weights with realistic spread (Kaiming-uniform linears,
// LayerNorm weights in [0.5, 1.5) and non-zero biases so that every parameter matters in parity
// tests), plus the embedded WordPiece tokenizer and the sentence-transformers module files.
#include "models/encoder/create.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ferris/assets.h"
#include "ferris/rng.h"
#include "ferris/safetensors.h"
#include "io/files.h"
#include "models/encoder/weights.h"

namespace ferris::models::encoder {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The uniform range of one tensor, by what it is.
std::pair<float, float> init_range(const WeightSlot& slot) {
    if (ends_with(slot.name, "LayerNorm.weight")) return {0.5f, 1.5f};
    if (ends_with(slot.name, "LayerNorm.bias")) return {-0.2f, 0.2f};
    if (ends_with(slot.name, ".bias")) return {-0.1f, 0.1f};
    if (slot.name == "embeddings.word_embeddings.weight") return {-1.0f, 1.0f};
    if (slot.name.find("embeddings.weight") != std::string::npos) return {-0.5f, 0.5f};
    if (slot.name == "encoder.relative_attention_bias.weight") return {-1.0f, 1.0f};
    const float a = std::sqrt(3.0f / static_cast<float>(slot.shape[1]));
    return {-a, a};
}

Tensor random_tensor(const WeightSlot& slot, DType dtype, Rng& rng) {
    const auto [lo, hi] = init_range(slot);
    Tensor t = Tensor::empty(slot.shape, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = rng.uniform(lo, hi);
    return dtype == DType::F32 ? t : t.to_dtype(dtype);
}

std::string tokenizer_config(const EncoderConfig& c) {
    json j;
    j["do_lower_case"] = true;
    j["model_max_length"] = 512;
    j["clean_up_tokenization_spaces"] = true;
    j["tokenize_chinese_chars"] = true;
    j["strip_accents"] = nullptr;
    if (c.arch == Arch::Bert) {
        j["tokenizer_class"] = "BertTokenizer";
        j["cls_token"] = "[CLS]";
        j["sep_token"] = "[SEP]";
        j["pad_token"] = "[PAD]";
        j["mask_token"] = "[MASK]";
    } else {
        j["tokenizer_class"] = "MPNetTokenizer";
        j["bos_token"] = "<s>";
        j["eos_token"] = "</s>";
        j["cls_token"] = "<s>";
        j["sep_token"] = "</s>";
        j["pad_token"] = "<pad>";
        j["mask_token"] = "<mask>";
    }
    j["unk_token"] = "[UNK]";
    return j.dump(2) + "\n";
}

std::string modules_json(bool normalize) {
    json j = json::array();
    j.push_back({{"idx", 0},
                 {"name", "0"},
                 {"path", ""},
                 {"type", "sentence_transformers.models.Transformer"}});
    j.push_back({{"idx", 1},
                 {"name", "1"},
                 {"path", "1_Pooling"},
                 {"type", "sentence_transformers.models.Pooling"}});
    if (normalize)
        j.push_back({{"idx", 2},
                     {"name", "2"},
                     {"path", "2_Normalize"},
                     {"type", "sentence_transformers.models.Normalize"}});
    return j.dump(2) + "\n";
}

std::string pooling_json(int64_t dim, const std::string& mode) {
    if (mode != "mean" && mode != "cls" && mode != "max")
        fail(ErrorCode::InvalidArgument, "pooling '", mode, "' (expected mean, cls or max)");
    json j;
    j["word_embedding_dimension"] = dim;
    j["pooling_mode_cls_token"] = mode == "cls";
    j["pooling_mode_mean_tokens"] = mode == "mean";
    j["pooling_mode_max_tokens"] = mode == "max";
    j["pooling_mode_mean_sqrt_len_tokens"] = false;
    j["pooling_mode_weightedmean_tokens"] = false;
    j["pooling_mode_lasttoken"] = false;
    j["include_prompt"] = true;
    return j.dump(2) + "\n";
}

void prepare_folder(const std::string& dir, bool overwrite) {
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) fail(ErrorCode::Io, dir, ": exists and is not a folder");
        if (!overwrite && !fs::is_empty(dir, ec))
            fail(ErrorCode::Io, dir, ": folder is not empty (pass --force to overwrite)");
    } else if (!fs::create_directories(dir, ec)) {
        fail(ErrorCode::Io, dir, ": cannot create folder: ", ec.message());
    }
}

}  // namespace

int64_t preset_max_seq_length(const std::string& preset) {
    if (preset == "e5-small-v2") return 512;
    if (preset == "all-minilm-l6-v2") return 256;
    if (preset == "all-mpnet-base-v2") return 384;
    return 128;
}

size_t create_random_encoder(const std::string& out_dir, const EncoderConfig& config,
                             const CreateOptions& options) {
    if (!is_float(config.dtype))
        fail(ErrorCode::InvalidArgument, "weight dtype ", dtype_name(config.dtype),
             " is not a float type (expected f32, f16 or bf16)");
    const int64_t max_seq =
        options.max_seq_length > 0 ? options.max_seq_length : config.max_tokens();
    if (max_seq > config.max_tokens())
        fail(ErrorCode::InvalidArgument, "max_seq_length ", max_seq, " exceeds the model's ",
             config.max_tokens(), " positions");
    const std::string pooling = pooling_json(config.hidden_size, options.pooling);  // validates
    prepare_folder(out_dir, options.overwrite);

    EncoderWeights layout;
    std::vector<WeightSlot> slots = weight_slots(config, layout);
    Rng rng(options.seed);
    io::NamedTensors tensors;
    size_t total = 0, expected = 0;
    for (const WeightSlot& slot : slots)
        expected += static_cast<size_t>(shape_numel(slot.shape)) * dtype_size(config.dtype);
    for (const WeightSlot& slot : slots) {
        tensors.emplace_back(slot.name, random_tensor(slot, config.dtype, rng));
        total += tensors.back().second.nbytes();
        if (options.progress) options.progress(total, expected);
    }
    io::save_safetensors(io::join_path(out_dir, "model.safetensors"), tensors, {{"format", "pt"}});
    io::write_file_atomic(io::join_path(out_dir, "config.json"), config.to_json_text());
    const std::string_view tokenizer =
        config.arch == Arch::Bert ? assets::bert_tokenizer_json() : assets::mpnet_tokenizer_json();
    io::write_file_atomic(io::join_path(out_dir, "tokenizer.json"), std::string(tokenizer));
    io::write_file_atomic(io::join_path(out_dir, "tokenizer_config.json"),
                          tokenizer_config(config));
    io::write_file_atomic(io::join_path(out_dir, "modules.json"), modules_json(options.normalize));
    io::write_file_atomic(
        io::join_path(out_dir, "sentence_bert_config.json"),
        json({{"max_seq_length", max_seq}, {"do_lower_case", false}}).dump(2) + "\n");
    const std::string pooling_dir = io::join_path(out_dir, "1_Pooling");
    std::error_code ec;
    fs::create_directories(pooling_dir, ec);
    if (ec) fail(ErrorCode::Io, pooling_dir, ": cannot create folder: ", ec.message());
    io::write_file_atomic(io::join_path(pooling_dir, "config.json"), pooling);
    return total;
}

}  // namespace ferris::models::encoder
