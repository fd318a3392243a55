// Sampling filters keep exactly the candidates transformers keeps; seeded runs repeat;
// the repetition penalty follows HF's formula (once per distinct previous token).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ferris/error.h"
#include "runtime/sampler.h"

namespace ferris::runtime {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<int> kept(const std::vector<float>& l) {
    std::vector<int> k;
    for (size_t i = 0; i < l.size(); ++i)
        if (l[i] != -kInf) k.push_back(static_cast<int>(i));
    return k;
}

TEST(Sampler, TopKKeepsKLargestAndTies) {
    std::vector<float> l = {1.0f, 5.0f, 3.0f, 4.0f, 2.0f};
    apply_top_k(l, 2);
    EXPECT_EQ(kept(l), (std::vector<int>{1, 3}));
    std::vector<float> ties = {1.0f, 3.0f, 3.0f, 0.5f};
    apply_top_k(ties, 1);  // like torch: everything >= the k-th value survives
    EXPECT_EQ(kept(ties), (std::vector<int>{1, 2}));
    std::vector<float> all = {1, 2};
    apply_top_k(all, 5);
    EXPECT_EQ(kept(all), (std::vector<int>{0, 1}));
}

TEST(Sampler, TopPKeepsSmallestSetReachingMass) {
    // probabilities 0.5, 0.25, 0.125, 0.125 (logits = log p)
    std::vector<float> base = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
    std::vector<float> l = base;
    apply_top_p(l, 0.7f);  // 0.5 < 0.7 <= 0.75 -> two tokens
    EXPECT_EQ(kept(l), (std::vector<int>{0, 1}));
    l = base;
    apply_top_p(l, 0.5f);  // the top token alone reaches 0.5
    EXPECT_EQ(kept(l), (std::vector<int>{0}));
    l = base;
    apply_top_p(l, 0.8f);  // ascending cumsum 0.125 <= 0.2 is dropped: three remain
    EXPECT_EQ(kept(l).size(), 3u);
    l = base;
    apply_top_p(l, 0.9f);  // 0.125 > 0.1: all four remain
    EXPECT_EQ(kept(l).size(), 4u);
    l = base;
    apply_top_p(l, 1e-6f);  // always at least one
    EXPECT_EQ(kept(l), (std::vector<int>{0}));
}

TEST(Sampler, MinPDropsBelowScaledTop) {
    std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.1f), std::log(0.06f),
                            std::log(0.04f)};
    apply_min_p(l, 0.1f);  // threshold 0.05: 0.06 stays, 0.04 goes
    EXPECT_EQ(kept(l), (std::vector<int>{0, 1, 2, 3}));
    apply_min_p(l, 0.5f);  // threshold 0.25 of the remaining mass
    EXPECT_EQ(kept(l), (std::vector<int>{0, 1}));
}

TEST(Sampler, RepetitionPenaltyFormula) {
    std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.0f};
    apply_repetition_penalty(l, {0, 1, 1, 0, 3}, 2.0f);  // duplicates count once
    EXPECT_FLOAT_EQ(l[0], 1.0f);
    EXPECT_FLOAT_EQ(l[1], -4.0f);
    EXPECT_FLOAT_EQ(l[2], 1.0f);
    EXPECT_FLOAT_EQ(l[3], 0.0f);
}

TEST(Sampler, GreedyIsArgmaxAfterPenalty) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.repetition_penalty = 4.0f;
    Sampler s(p);
    std::vector<float> l = {3.0f, 1.0f, 2.0f};
    EXPECT_EQ(s.sample(l, {0}), 2);  // 3/4 < 2
    std::vector<float> tie = {1.0f, 5.0f, 5.0f};
    EXPECT_EQ(argmax(tie), 1);
}

TEST(Sampler, SeededRunsRepeatAndDiffer) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = 42;
    std::vector<float> logits(100);
    for (int i = 0; i < 100; ++i) logits[i] = std::sin(i * 0.37f) * 2;
    auto run = [&](uint64_t seed) {
        p.seed = seed;
        Sampler s(p);
        std::vector<int32_t> out;
        for (int i = 0; i < 50; ++i) {
            std::vector<float> l = logits;
            out.push_back(s.sample(l, {}));
        }
        return out;
    };
    EXPECT_EQ(run(42), run(42));
    EXPECT_NE(run(42), run(43));
}

TEST(Sampler, SamplesFollowTheDistribution) {
    SamplingParams p;
    p.seed = 9;
    Sampler s(p);
    std::vector<int> counts(3);
    const std::vector<float> logits = {std::log(0.7f), std::log(0.2f), std::log(0.1f)};
    for (int i = 0; i < 20000; ++i) {
        std::vector<float> l = logits;
        counts[s.sample(l, {})]++;
    }
    EXPECT_NEAR(counts[0] / 20000.0, 0.7, 0.02);
    EXPECT_NEAR(counts[1] / 20000.0, 0.2, 0.02);
    EXPECT_NEAR(counts[2] / 20000.0, 0.1, 0.02);
}

TEST(Sampler, TopKOneIsDeterministic) {
    SamplingParams p;
    p.top_k = 1;
    p.seed = 1;
    Sampler s(p);
    for (int i = 0; i < 20; ++i) {
        std::vector<float> l = {0.1f, 0.3f, 0.2f};
        EXPECT_EQ(s.sample(l, {}), 1);
    }
}

TEST(Sampler, RejectsBadParameters) {
    SamplingParams p;
    p.top_p = 0.0f;
    EXPECT_THROW(p.validate(), Error);
    p = {};
    p.temperature = -1;
    EXPECT_THROW(p.validate(), Error);
    p = {};
    p.repetition_penalty = 0;
    EXPECT_THROW(p.validate(), Error);
}

}  // namespace
}  // namespace ferris::runtime
