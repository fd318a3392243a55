// Sampler implementation (see sampler.h). Probabilities are computed in double.
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>

#include "ferris/error.h"

namespace ferris::runtime {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<double> softmax(const std::vector<float>& logits) {
    const float mx = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        p[i] = logits[i] == kNegInf ? 0.0 : std::exp(static_cast<double>(logits[i] - mx));
        sum += p[i];
    }
    for (double& v : p) v /= sum;
    return p;
}
}  // namespace

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

void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& previous,
                              float penalty) {
    if (penalty == 1.0f) return;
    std::unordered_set<int32_t> seen;
    for (int32_t id : previous) {
        if (id < 0 || static_cast<size_t>(id) >= logits.size() || !seen.insert(id).second) continue;
        float& v = logits[static_cast<size_t>(id)];
        v = v < 0 ? v * penalty : v / penalty;
    }
}

void apply_temperature(std::vector<float>& logits, float temperature) {
    if (temperature == 1.0f) return;
    for (float& v : logits) v /= temperature;
}

void apply_top_k(std::vector<float>& logits, int k) {
    if (k <= 0 || static_cast<size_t>(k) >= logits.size()) return;
    std::vector<float> sorted(logits);
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
    const float threshold = sorted[static_cast<size_t>(k - 1)];
    for (float& v : logits)
        if (v < threshold) v = kNegInf;
}

void apply_top_p(std::vector<float>& logits, float top_p) {
    if (top_p >= 1.0f) return;
    // transformers sorts ascending and drops tokens whose ascending cumulative mass is
    // <= 1 - top_p; equivalently a token survives iff the mass ranked strictly above it is
    // < top_p. Only the head of the distribution matters, so rank a growing top-k instead of
    // sorting the whole vocabulary every step (ties keep the lower index first).
    const std::vector<double> p = softmax(logits);
    const size_t n = logits.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto before = [&](size_t a, size_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    size_t k = std::min<size_t>(64, n);
    for (;;) {
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        double mass = 0;
        size_t keep = 0;
        while (keep < k && mass < static_cast<double>(top_p)) mass += p[order[keep++]];
        if (mass >= static_cast<double>(top_p) || k == n) {
            for (size_t r = keep; r < n; ++r) logits[order[r]] = kNegInf;
            return;
        }
        k = std::min(n, k * 8);
    }
}

void apply_min_p(std::vector<float>& logits, float min_p) {
    if (min_p <= 0.0f) return;
    const std::vector<double> p = softmax(logits);
    const double threshold = static_cast<double>(min_p) * *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < logits.size(); ++i)
        if (p[i] < threshold) logits[i] = kNegInf;
}

int32_t argmax(const std::vector<float>& logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
    params_.validate();
}

int32_t Sampler::sample(std::vector<float>& logits, const std::vector<int32_t>& previous) {
    apply_repetition_penalty(logits, previous, params_.repetition_penalty);
    if (params_.temperature == 0.0f) return argmax(logits);
    apply_temperature(logits, params_.temperature);
    apply_top_k(logits, params_.top_k);
    apply_top_p(logits, params_.top_p);
    apply_min_p(logits, params_.min_p);
    const std::vector<double> p = softmax(logits);
    const double u = rng_.uniform_double();
    double cum = 0;
    int32_t last = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] <= 0) continue;
        cum += p[i];
        last = static_cast<int32_t>(i);
        if (u < cum) return last;
    }
    return last;  // rounding left u just above the total
}

}  // namespace ferris::runtime
