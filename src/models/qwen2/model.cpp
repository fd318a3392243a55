// Qwen2Model loading: config.json, the checkpoint, weights to the device.
#include "models/qwen2/model.h"

#include "io/files.h"
#include "ops/ops.h"

namespace ferris::models::qwen2 {

namespace {

// Decode reads q, k and v in one product on a GPU (one kernel instead of three).
void fuse_qkv(Qwen2Weights& w, Device device) {
    for (LayerWeights& l : w.layers)
        l.qkv_proj = nn::stack_linears({&l.q_proj, &l.k_proj, &l.v_proj}, device);
}

}  // namespace

std::unique_ptr<Qwen2Model> Qwen2Model::load(const std::string& dir, const LoadOptions& options) {
    if (!io::is_directory(dir)) fail(ErrorCode::Io, dir, ": not a model directory");
    if (options.dtype && !is_float(*options.dtype))
        fail(ErrorCode::InvalidArgument, "compute dtype ", dtype_name(*options.dtype),
             " is not a float type (expected f32, f16 or bf16)");
    auto m = std::unique_ptr<Qwen2Model>(new Qwen2Model());
    m->config_ = Qwen2Config::from_file(io::join_path(dir, "config.json"));
    io::Checkpoint ckpt = io::Checkpoint::open(dir);
    // Default compute dtype: what the checkpoint stores (its embedding's dtype).
    DType dtype = m->config_.dtype;
    if (ckpt.has("model.embed_tokens.weight")) {
        Tensor e = ckpt.get("model.embed_tokens.weight");
        if (is_float(e.dtype())) dtype = e.dtype();
    }
    dtype = options.dtype.value_or(dtype);
    m->weights_ = load_weights(m->config_, ckpt, dtype, options.device);
    m->device_ = options.device;
    if (!options.device.is_cpu()) fuse_qkv(m->weights_, options.device);
    m->keepalive_ = std::make_shared<io::Checkpoint>(std::move(ckpt));
    return m;
}

nn::KvCache Qwen2Model::new_cache(int64_t capacity, DType dtype) const {
    if (!is_float(dtype))
        fail(ErrorCode::InvalidArgument, "KV cache dtype ", dtype_name(dtype),
             " is not a float type (expected f32, f16 or bf16)");
    return nn::KvCache(config_.num_hidden_layers, 1, capacity, config_.num_key_value_heads,
                       config_.head_dim, dtype, device_);
}

}  // namespace ferris::models::qwen2
