// The one tolerance table of the test suite (DESIGN.md). Every widened number says why.
#pragma once

namespace ferris::tolerances {

// f32 logits / NLL vs transformers in float32: relative to the row's largest |logit|.
constexpr double kF32LogitsRel = 1e-4;
// bf16 compute vs an f32 reference (GPU issue): absolute on unit-scale values / relative.
constexpr double kBf16Abs = 5e-2;
constexpr double kBf16Rel = 2e-2;

}  // namespace ferris::tolerances
