// The sampling math (see sampling.h; probabilities in double) and the CPU `sample` op, which runs
// it on a copy of the logits and marks the chosen id in `seen`.
#include "backends/cpu/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"

namespace ferris::cpu {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}  // namespace

std::vector<double> probabilities(const std::vector<float>& logits) {
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

void apply_repetition_penalty(std::vector<float>& logits, const int32_t* seen, float penalty) {
    if (penalty == 1.0f) return;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (seen[i] == 0) continue;
        float& v = logits[i];
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
    const std::vector<double> p = probabilities(logits);
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
    const std::vector<double> p = probabilities(logits);
    const double threshold = static_cast<double>(min_p) * *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < logits.size(); ++i)
        if (p[i] < threshold) logits[i] = kNegInf;
}

int32_t argmax(const std::vector<float>& logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t draw(const std::vector<float>& logits, double u) {
    const std::vector<double> p = probabilities(logits);
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

int32_t sample_logits(std::vector<float>& logits, const int32_t* seen, double u,
                      const SampleOptions& options) {
    apply_repetition_penalty(logits, seen, options.repetition_penalty);
    if (options.temperature == 0.0f) return argmax(logits);
    apply_temperature(logits, options.temperature);
    apply_top_k(logits, options.top_k);
    apply_top_p(logits, options.top_p);
    apply_min_p(logits, options.min_p);
    return draw(logits, u);
}

void CpuBackend::sample(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
                        const SampleOptions& options) {
    TraceScope trace("sample");
    const float* l = logits.data<float>();
    std::vector<float> work(l, l + logits.size(1));
    const double u = static_cast<double>(uniform.data<int64_t>()[0]) / kSampleUniformScale;
    const int32_t id = sample_logits(work, seen.data<int32_t>(), u, options);
    seen.data<int32_t>()[id] = 1;
    out.data<int32_t>()[0] = id;
}

}  // namespace ferris::cpu
