// EncoderModel loading and MPNet's relative position buckets.
#include "models/encoder/model.h"

#include <cmath>

#include "io/files.h"
#include "ops/ops.h"

namespace ferris::models::encoder {

std::unique_ptr<EncoderModel> EncoderModel::load(const std::string& dir,
                                                 const LoadOptions& options) {
    if (!io::is_directory(dir)) fail(ErrorCode::Io, dir, ": not a model directory");
    if (options.dtype && !is_float(*options.dtype))
        fail(ErrorCode::InvalidArgument, "compute dtype ", dtype_name(*options.dtype),
             " is not a float type (expected f32, f16 or bf16)");
    auto m = std::unique_ptr<EncoderModel>(new EncoderModel());
    m->config_ = EncoderConfig::from_file(io::join_path(dir, "config.json"));
    io::Checkpoint ckpt = io::Checkpoint::open(dir);
    DType dtype = m->config_.dtype;
    const std::string word =
        checkpoint_prefix(m->config_, ckpt) + "embeddings.word_embeddings.weight";
    if (ckpt.has(word) && is_float(ckpt.get(word).dtype())) dtype = ckpt.get(word).dtype();
    dtype = options.dtype.value_or(dtype);
    m->weights_ = load_weights(m->config_, ckpt, dtype, options.device);
    if (m->config_.arch == Arch::MPNet) {
        const Tensor& table = m->weights_.relative_attention_bias;
        m->bias_table_ = ops::to_host_floats(table);
    }
    m->device_ = options.device;
    if (!options.device.is_cpu()) {
        // One q/k/v product instead of three. With half weights the activations are half too
        // (forward.cpp): the products' biases then go to that dtype once here, not per call
        // (sentence-transformers' .half() rounds them likewise).
        const DType wt = m->weights_.layers.front().query.weight.dtype();
        const bool half = wt == DType::BF16 || wt == DType::F16;
        for (LayerWeights& l : m->weights_.layers) {
            l.qkv = nn::stack_linears({&l.query, &l.key, &l.value}, options.device);
            for (nn::LinearWeights* lw : {&l.qkv, &l.attn_out, &l.mlp_up, &l.mlp_down})
                if (half && lw->bias.defined() && lw->bias.dtype() != wt) {
                    Tensor b = ops::empty(lw->bias.shape(), wt, options.device);
                    ops::copy_(b, lw->bias);
                    lw->bias = b;
                }
        }
    }
    m->keepalive_ = std::make_shared<io::Checkpoint>(std::move(ckpt));
    return m;
}

// transformers' MPNetAttention.relative_position_bucket, with its float32 arithmetic: half the
// buckets for each direction, exact up to max_exact, logarithmic up to max_distance.
int64_t EncoderModel::relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                               int64_t max_distance) {
    int64_t n = -relative_position;
    const int64_t half = num_buckets / 2;
    int64_t bucket = n < 0 ? half : 0;
    n = std::abs(n);
    const int64_t max_exact = half / 2;
    if (n < max_exact) return bucket + n;
    const float scaled = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                         static_cast<float>(std::log(static_cast<double>(max_distance) /
                                                     static_cast<double>(max_exact))) *
                         static_cast<float>(half - max_exact);
    const int64_t large = std::min(max_exact + static_cast<int64_t>(scaled), half - 1);
    return bucket + large;
}

Tensor EncoderModel::relative_bias(int64_t T) const {
    const int64_t NH = config_.num_attention_heads, NB = config_.relative_attention_num_buckets;
    const int64_t R = 2 * T - 1;
    std::vector<float> bias(static_cast<size_t>(NH * R));
    for (int64_t r = 0; r < R; ++r) {
        const int64_t bucket = relative_position_bucket(r - (T - 1), NB);
        for (int64_t h = 0; h < NH; ++h) bias[h * R + r] = bias_table_[bucket * NH + h];
    }
    return ops::to_device(Tensor::from_floats({NH, R}, bias), device_);
}

}  // namespace ferris::models::encoder
