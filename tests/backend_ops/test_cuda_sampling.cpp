// The CUDA `sample` op against the CPU op (the reference): V = 1 .. 151936, spread / peaked / tied
// logits, every combination of top-k, top-p, min-p and the repetition penalty, 200 uniforms each.
// The GPU sums probabilities in f32 (with double where a filter's cut depends on it), so its
// token may differ from the CPU's (double) only when u lies within 1e-5 of the CPU's CDF boundary
// around its token; such exceptions must stay under 2% of the draws. Greedy must match exactly.
// Also: the seen mask is updated, and a recorded (graph) replay chooses as a direct call does.
// Label `cuda`: every test skips itself when no CUDA device is present.
#include <algorithm>
#include <string>

#include "backends/cpu/sampling.h"
#include "cuda_harness.h"
#include "ops/ops.h"
#include "runtime/sampler.h"
#include "sampling_cases.h"

namespace ferris::testing {
namespace {

using CudaSampling = CudaTest;

// The CPU's final distribution for one (logits, seen, options): the CDF in token-id order, as
// cpu::draw accumulates it, and the token it picks at u.
struct CpuReference {
    std::vector<float> filtered;
    std::vector<double> p, cum;  // cum[i]: mass of tokens 0..i (tokens with p > 0 only)
    CpuReference(std::vector<float> logits, const std::vector<int32_t>& seen,
                 const SampleOptions& o)
        : filtered(std::move(logits)) {
        cpu::apply_repetition_penalty(filtered, seen.data(), o.repetition_penalty);
        cpu::apply_temperature(filtered, o.temperature);
        cpu::apply_top_k(filtered, o.top_k);
        cpu::apply_top_p(filtered, o.top_p);
        cpu::apply_min_p(filtered, o.min_p);
        p = cpu::probabilities(filtered);
        double c = 0;
        for (double q : p) cum.push_back(q > 0 ? (c += q) : c);
    }
    int32_t choice(double u) const {  // cpu::draw without recomputing the softmax
        int32_t last = 0;
        for (auto it = std::upper_bound(cum.begin(), cum.end(), u); it != cum.end(); ++it) {
            const auto i = static_cast<size_t>(it - cum.begin());
            if (p[i] > 0) return static_cast<int32_t>(i);
        }
        for (size_t i = 0; i < p.size(); ++i)
            if (p[i] > 0) last = static_cast<int32_t>(i);
        return last;
    }
    // Distance from u to the nearer end of token i's CDF interval.
    double distance_to_boundary(double u, int32_t i) const {
        const double hi = cum[static_cast<size_t>(i)], lo = hi - p[static_cast<size_t>(i)];
        return std::min(std::abs(u - lo), std::abs(u - hi));
    }
};

// The op's inputs on the device; each choice starts from the same seen mask.
struct DeviceInputs {
    Tensor logits, seen, seen_start, uniform, out;
    DeviceInputs(const std::vector<float>& l, const std::vector<int32_t>& seen_host) {
        const auto v = static_cast<int64_t>(l.size());
        logits = up(Tensor::from_floats({1, v}, l));
        seen_start = up(Tensor::from_ints({v}, seen_host));
        seen = up(Tensor::from_ints({v}, seen_host));
        uniform = up(uniform_tensor(0.0));
        out = up(Tensor::from_ints({1}, {-1}));
    }
    void prepare(double u) {
        ops::copy_(seen, seen_start);
        ops::copy_(uniform, uniform_tensor(u));
    }
    int32_t choose(double u, const SampleOptions& o) {
        prepare(u);
        ops::sample_(out, logits, seen, uniform, o);
        return down(out).data<int32_t>()[0];
    }
};

struct Tally {
    long draws = 0, exceptions = 0;
};

// Compares `draws` choices of both ops; exact for greedy, else within the boundary rule.
void compare(const std::vector<float>& logits, const std::vector<int32_t>& seen,
             const SampleOptions& o, int draws, Rng& rng, const std::string& what, Tally& tally) {
    const auto v = static_cast<int64_t>(logits.size());
    DeviceInputs dev(logits, seen);
    const Tensor cpu_logits = Tensor::from_floats({1, v}, logits);
    auto cpu_op = [&](double u) {  // the CPU op itself, for a few of the draws
        Tensor s = Tensor::from_ints({v}, seen), out = Tensor::from_ints({1}, {-1});
        ops::sample_(out, cpu_logits, s, uniform_tensor(u), o);
        return out.data<int32_t>()[0];
    };
    if (o.temperature == 0.0f) {
        const int32_t got = dev.choose(0.0, o);
        ++tally.draws;
        EXPECT_EQ(got, cpu_op(0.0)) << what;
        return;
    }
    const CpuReference ref(logits, seen, o);
    for (int d = 0; d < draws; ++d) {
        const double u = rng.uniform_double();
        const int32_t want = ref.choice(u);
        if (d < 2) {
            ASSERT_EQ(want, cpu_op(u)) << what << ": the reference is not the CPU op";
        }
        const int32_t got = dev.choose(u, o);
        ++tally.draws;
        if (d == 0) {  // the chosen id is marked in seen, nothing else changes
            const Tensor after = down(dev.seen);
            for (int64_t i = 0; i < v; ++i)
                ASSERT_EQ(after.data<int32_t>()[i], i == got ? 1 : seen[static_cast<size_t>(i)])
                    << what << ", seen[" << i << "]";
        }
        if (got == want) continue;
        ASSERT_TRUE(got >= 0 && got < v) << what << ": id " << got;
        ++tally.exceptions;
        EXPECT_LT(ref.distance_to_boundary(u, want), 1e-5)
            << what << ", u " << u << ": gpu " << got << " (p " << ref.p[static_cast<size_t>(got)]
            << "), cpu " << want << " (p " << ref.p[static_cast<size_t>(want)] << ")";
    }
}

SampleOptions options(float temperature, int top_k, float top_p, float min_p, float penalty) {
    SampleOptions o;
    o.temperature = temperature;
    o.top_k = top_k;
    o.top_p = top_p;
    o.min_p = min_p;
    o.repetition_penalty = penalty;
    return o;
}

std::string describe(int64_t v, LogitShape shape, const SampleOptions& o) {
    return "V " + std::to_string(v) + ", shape " + std::to_string(static_cast<int>(shape)) +
           ", T " + std::to_string(o.temperature) + ", k " + std::to_string(o.top_k) + ", p " +
           std::to_string(o.top_p) + ", min_p " + std::to_string(o.min_p) + ", penalty " +
           std::to_string(o.repetition_penalty);
}

TEST_F(CudaSampling, MatchesCpuForEveryFilterCombination) {
    Rng rng(5);
    Tally tally;
    for (int64_t v : {1, 31, 32, 33, 255, 256, 257, 151936}) {
        for (LogitShape shape : {LogitShape::Spread, LogitShape::Peaked, LogitShape::Tied}) {
            const std::vector<float> logits = make_logits(v, shape, rng, 12.0f, true);
            std::vector<int32_t> seen(static_cast<size_t>(v), 0);
            for (int64_t i = 0; i < v / 8 + 1; ++i)
                seen[rng.next_u64() % static_cast<uint64_t>(v)] = 1;
            const int k = static_cast<int>(std::min<int64_t>(40, std::max<int64_t>(1, v / 3)));
            std::vector<SampleOptions> cases;
            for (int mask = 0; mask < 16; ++mask)
                cases.push_back(options(0.8f, mask & 1 ? k : 0, mask & 2 ? 0.9f : 1.0f,
                                        mask & 4 ? 0.05f : 0.0f, mask & 8 ? 1.3f : 1.0f));
            cases.push_back(options(1.0f, 0, 0.5f, 0.0f, 1.0f));
            cases.push_back(options(1.0f, 0, 1e-6f, 0.0f, 1.0f));  // only the top token
            cases.push_back(options(1.0f, 0, 1.0f, 1.0f, 1.0f));   // min-p 1: only the maximum
            cases.push_back(options(1.0f, 1, 1.0f, 0.0f, 1.0f));   // top-k 1
            cases.push_back(options(0.0f, 0, 1.0f, 0.0f, 1.0f));   // greedy
            cases.push_back(options(0.0f, 0, 1.0f, 0.0f, 1.7f));   // greedy after the penalty
            for (const SampleOptions& o : cases)
                compare(logits, seen, o, 200, rng, describe(v, shape, o), tally);
        }
    }
    EXPECT_LT(static_cast<double>(tally.exceptions), 0.02 * static_cast<double>(tally.draws))
        << tally.exceptions << " of " << tally.draws << " draws differ near a CDF boundary";
    std::printf(
        "[ sampling ] %ld of %ld draws differ from the CPU (all within 1e-5 of a CDF "
        "boundary)\n",
        tally.exceptions, tally.draws);
}

TEST_F(CudaSampling, RecordedReplayChoosesAsADirectCall) {
    Rng rng(9);
    const int64_t v = 151936;
    const std::vector<float> logits = make_logits(v, LogitShape::Peaked, rng, 12.0f, true);
    std::vector<int32_t> seen(static_cast<size_t>(v), 0);
    for (int i = 0; i < 100; ++i) seen[rng.next_u64() % static_cast<uint64_t>(v)] = 1;
    for (const SampleOptions& o :
         {options(0.8f, 40, 0.95f, 0.05f, 1.1f), options(1.0f, 0, 0.9f, 0.0f, 1.0f),
          options(0.7f, 0, 1.0f, 0.0f, 1.0f)}) {
        DeviceInputs dev(logits, seen);
        auto step =
            gpu().record([&] { ops::sample_(dev.out, dev.logits, dev.seen, dev.uniform, o); });
        for (int d = 0; d < 20; ++d) {
            const double u = rng.uniform_double();
            dev.prepare(u);
            step->replay();
            const int32_t replayed = down(dev.out).data<int32_t>()[0];
            const Tensor seen_replayed = down(dev.seen);
            EXPECT_EQ(replayed, dev.choose(u, o))
                << describe(v, LogitShape::Peaked, o) << ", u " << u;
            EXPECT_EQ(seen_replayed.data<int32_t>()[replayed], 1);
        }
    }
}

TEST_F(CudaSampling, RepeatedCallsAccumulateSeen) {
    // Greedy with a strong penalty: each pick is penalized for the next call, as in decoding.
    const std::vector<float> logits = {5.0f, 4.9f, 4.8f, 1.0f};
    DeviceInputs dev(logits, {0, 0, 0, 0});
    const SampleOptions o = options(0.0f, 0, 1.0f, 0.0f, 100.0f);
    std::vector<int32_t> picks;
    for (int i = 0; i < 4; ++i) {
        ops::sample_(dev.out, dev.logits, dev.seen, dev.uniform, o);
        picks.push_back(down(dev.out).data<int32_t>()[0]);
    }
    EXPECT_EQ(picks, (std::vector<int32_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace ferris::testing
