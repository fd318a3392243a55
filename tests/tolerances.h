// The one tolerance table of the test suite (DESIGN.md). Every widened number says why.
#pragma once

namespace ferris::tolerances {

// f32 logits / NLL vs transformers in float32: relative to the row's largest |logit|.
constexpr double kF32LogitsRel = 1e-4;
// bf16 compute vs an f32 reference (GPU issue): absolute on unit-scale values / relative.
constexpr double kBf16Abs = 5e-2;
constexpr double kBf16Rel = 2e-2;
// A bf16 greedy step may take the runner-up only where the reference's top-1/top-2 margin is
// below this (absolute logits; the tiny models' logits reach ~20, and kBf16Rel of that is 0.4).
constexpr double kBf16GreedyMargin = 0.5;

// Sentence embeddings (f32, CPU) vs sentence-transformers in float32: cosine of each vector to
// the reference (the bar), and the largest element difference relative to its norm.
constexpr double kEmbeddingCosine = 0.99999;
constexpr double kEmbeddingRel = 1e-4;
// bf16 / f16 matrices against the f32 reference (the bar for the GPU path).
constexpr double kHalfEmbeddingCosine = 0.999;
// The same text embedded alone or in any batch: only summation order may differ.
constexpr double kBatchInvariance = 1e-6;

}  // namespace ferris::tolerances
