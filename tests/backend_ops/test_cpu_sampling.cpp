// The CPU `sample` op against runtime::Sampler, the host path generation took before the op:
// each filter alone and combined, ties at the k-th value, greedy, the repetition penalty on
// positive and negative logits, V = 1, the top_p = 1 and min_p = 1 edges, many uniforms. The op
// gets its uniforms from the Rng stream the Sampler draws from, so the ids must be equal.
#include <algorithm>
#include <set>
#include <string>

#include "ferris/error.h"
#include "harness.h"
#include "ops/ops.h"
#include "runtime/sampler.h"
#include "sampling_cases.h"

namespace ferris::testing {
namespace {

using runtime::SamplingParams;

// Random previous ids (prompt + output) for the repetition penalty, some repeated.
std::vector<int32_t> make_previous(int64_t v, Rng& rng) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < v / 4 + 2; ++i)
        ids.push_back(static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(v)));
    return ids;
}

// `draws` choices by the op and by a Sampler with the same seed; returns the distinct ids.
std::set<int32_t> expect_same_choices(const std::vector<float>& logits,
                                      const std::vector<int32_t>& previous, const SamplingParams& p,
                                      int draws, const std::string& what) {
    const int64_t v = static_cast<int64_t>(logits.size());
    runtime::Sampler sampler(p);
    Rng stream(p.seed);
    const Tensor l = Tensor::from_floats({1, v}, logits);
    const std::vector<int32_t> mask = runtime::seen_mask(previous, static_cast<size_t>(v));
    std::set<int32_t> ids;
    for (int d = 0; d < draws; ++d) {
        std::vector<float> host = logits;
        const int32_t want = sampler.sample(host, previous);
        Tensor seen = Tensor::from_ints({v}, mask);
        Tensor out = Tensor::from_ints({1}, {-1});
        const double u = p.temperature == 0.0f ? 0.0 : stream.uniform_double();
        ops::sample_(out, l, seen, uniform_tensor(u), p);
        const int32_t got = out.data<int32_t>()[0];
        EXPECT_EQ(got, want) << what << ", draw " << d << ", u " << u;
        if (got < 0 || got >= v) return ids;
        int64_t changed = 0;  // the chosen id is marked, nothing else changes
        for (int64_t i = 0; i < v; ++i)
            changed += seen.data<int32_t>()[i] != (i == got ? 1 : mask[static_cast<size_t>(i)]);
        EXPECT_EQ(changed, 0) << what << ": seen mask";
        ids.insert(got);
    }
    EXPECT_EQ(l.to_floats(), logits) << what << ": the op modified its logits";
    return ids;
}

SamplingParams params(float temperature, int top_k, float top_p, float min_p, float penalty) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repetition_penalty = penalty;
    p.seed = 11;
    return p;
}

TEST(CpuSample, MatchesSamplerForEachFilterAndCombinations) {
    Rng rng(3);
    for (int64_t v : {1, 2, 31, 32, 33, 255, 256, 257, 4096}) {
        for (LogitShape shape : {LogitShape::Spread, LogitShape::Peaked, LogitShape::Tied}) {
            const std::vector<float> logits = make_logits(v, shape, rng);
            const std::vector<int32_t> previous = make_previous(v, rng);
            const int k = static_cast<int>(std::min<int64_t>(40, std::max<int64_t>(1, v / 3)));
            std::vector<SamplingParams> cases;
            for (int mask = 0; mask < 16; ++mask)  // every combination of the four filters
                cases.push_back(params(0.8f, mask & 1 ? k : 0, mask & 2 ? 0.9f : 1.0f,
                                       mask & 4 ? 0.05f : 0.0f, mask & 8 ? 1.3f : 1.0f));
            cases.push_back(params(1.0f, 0, 1.0f, 0.0f, 1.0f));  // plain softmax sampling
            cases.push_back(params(0.0f, 0, 1.0f, 0.0f, 1.0f));  // greedy
            cases.push_back(params(0.0f, 0, 1.0f, 0.0f, 1.7f));  // greedy after the penalty
            cases.push_back(params(1.5f, 0, 1.0f, 0.0f, 0.6f));  // a penalty below 1
            cases.push_back(params(1.0f, 1, 1.0f, 0.0f, 1.0f));  // top-k 1
            cases.push_back(params(1.0f, static_cast<int>(v), 1.0f, 0.0f, 1.0f));  // k = V: off
            cases.push_back(params(1.0f, 0, 1e-6f, 0.0f, 1.0f));  // top-p keeps only the top
            cases.push_back(params(1.0f, 0, 0.5f, 0.0f, 1.0f));
            cases.push_back(params(1.0f, 0, 1.0f, 1.0f, 1.0f));  // min-p 1: only the maximum
            cases.push_back(params(0.7f, 0, 1.0f, 0.3f, 1.0f));
            for (const SamplingParams& p : cases) {
                const std::string what =
                    "V " + std::to_string(v) + ", shape " +
                    std::to_string(static_cast<int>(shape)) + ", T " +
                    std::to_string(p.temperature) + ", k " + std::to_string(p.top_k) + ", p " +
                    std::to_string(p.top_p) + ", min_p " + std::to_string(p.min_p) + ", penalty " +
                    std::to_string(p.repetition_penalty);
                expect_same_choices(logits, previous, p, 40, what);
            }
        }
    }
}

TEST(CpuSample, TiesAtTheKthValueAreKept) {
    const std::vector<float> logits = {1.0f, 3.0f, 0.5f, 3.0f, 2.0f, 3.0f};
    const std::set<int32_t> ids =
        expect_same_choices(logits, {}, params(1.0f, 2, 1.0f, 0.0f, 1.0f), 200, "ties");
    EXPECT_EQ(ids, (std::set<int32_t>{1, 3, 5}));  // k = 2, but three logits share the 2nd value
}

TEST(CpuSample, PenaltyDividesPositiveAndMultipliesNegativeLogits) {
    // 2 / 4 = 0.5 loses to 1; -1 * 4 = -4 loses to -3: greedy picks the unpenalized ids.
    const SamplingParams p = params(0.0f, 0, 1.0f, 0.0f, 4.0f);
    EXPECT_EQ(expect_same_choices({2.0f, 1.0f}, {0}, p, 1, "positive"), std::set<int32_t>{1});
    EXPECT_EQ(expect_same_choices({-1.0f, -3.0f}, {0}, p, 1, "negative"), std::set<int32_t>{1});
    // A tie after the penalty goes to the first index.
    EXPECT_EQ(
        expect_same_choices({2.0f, 1.0f, 1.0f}, {0}, params(0.0f, 0, 1.0f, 0.0f, 2.0f), 1, "tie"),
        std::set<int32_t>{0});
}

TEST(CpuSample, EdgesOfTheUniform) {
    // u = 0 picks the first token with mass, u just below 1 the last.
    const Tensor l = Tensor::from_floats({1, 4}, {-INFINITY, 0.0f, 1.0f, -INFINITY});
    Tensor seen = Tensor::from_ints({4}, {0, 0, 0, 0}), out = Tensor::from_ints({1}, {-1});
    ops::sample_(out, l, seen, uniform_tensor(0.0), SampleOptions{});
    EXPECT_EQ(out.data<int32_t>()[0], 1);
    Tensor top = Tensor::empty({1}, DType::I64);
    top.data<int64_t>()[0] = (int64_t{1} << 53) - 1;
    ops::sample_(out, l, seen, top, SampleOptions{});
    EXPECT_EQ(out.data<int32_t>()[0], 2);
    EXPECT_EQ(std::vector<int32_t>(seen.data<int32_t>(), seen.data<int32_t>() + 4),
              (std::vector<int32_t>{0, 1, 1, 0}));
}

TEST(CpuSample, RejectsBadArguments) {
    const Tensor l = Tensor::from_floats({1, 3}, {0.0f, 1.0f, 2.0f});
    Tensor seen = Tensor::from_ints({3}, {0, 0, 0}), out = Tensor::from_ints({1}, {0});
    const Tensor u = uniform_tensor(0.5);
    SampleOptions bad;
    bad.top_p = 0.0f;
    EXPECT_THROW(ops::sample_(out, l, seen, u, bad), Error);
    bad = {};
    bad.temperature = -1.0f;
    EXPECT_THROW(ops::sample_(out, l, seen, u, bad), Error);
    Tensor short_seen = Tensor::from_ints({2}, {0, 0});
    EXPECT_THROW(ops::sample_(out, l, short_seen, u, SampleOptions{}), Error);
    const Tensor f32_uniform = Tensor::from_floats({1}, {0.5f});
    EXPECT_THROW(ops::sample_(out, l, seen, f32_uniform, SampleOptions{}), Error);
    Tensor past = Tensor::empty({1}, DType::I64);
    past.data<int64_t>()[0] = int64_t{1} << 53;
    EXPECT_THROW(ops::sample_(out, l, seen, past, SampleOptions{}), Error);
    const Tensor two_rows = Tensor::from_floats({2, 3}, {0, 1, 2, 3, 4, 5});
    EXPECT_THROW(ops::sample_(out, two_rows, seen, u, SampleOptions{}), Error);
}

}  // namespace
}  // namespace ferris::testing
