// Sampler (see sampler.h): option checks, the seen mask, and the uniform stream.
#include "runtime/sampler.h"

#include <cmath>

#include "ferris/error.h"

namespace ferris::runtime {

void SamplingParams::validate() const {
    if (!(temperature >= 0.0f) || !std::isfinite(temperature))
        fail(ErrorCode::InvalidArgument, "--temperature must be >= 0, got ", temperature);
    if (top_k < 0) fail(ErrorCode::InvalidArgument, "--top-k must be >= 0, got ", top_k);
    if (!(top_p > 0.0f && top_p <= 1.0f))
        fail(ErrorCode::InvalidArgument, "--top-p must be in (0, 1], got ", top_p);
    if (!(min_p >= 0.0f && min_p <= 1.0f))
        fail(ErrorCode::InvalidArgument, "--min-p must be in [0, 1], got ", min_p);
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
        fail(ErrorCode::InvalidArgument, "--repetition-penalty must be > 0, got ",
             repetition_penalty);
}

std::vector<int32_t> seen_mask(const std::vector<int32_t>& ids, size_t vocab) {
    std::vector<int32_t> seen(vocab, 0);
    for (int32_t id : ids)
        if (id >= 0 && static_cast<size_t>(id) < vocab) seen[static_cast<size_t>(id)] = 1;
    return seen;
}

void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& previous,
                              float penalty) {
    if (penalty == 1.0f) return;
    cpu::apply_repetition_penalty(logits, seen_mask(previous, logits.size()).data(), penalty);
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
    params_.validate();
}

int32_t Sampler::sample(std::vector<float>& logits, const std::vector<int32_t>& previous) {
    std::vector<int32_t> seen;
    if (params_.repetition_penalty != 1.0f) seen = seen_mask(previous, logits.size());
    const double u = params_.temperature == 0.0f ? 0.0 : rng_.uniform_double();
    return cpu::sample_logits(logits, seen.data(), u, params_);
}

}  // namespace ferris::runtime
