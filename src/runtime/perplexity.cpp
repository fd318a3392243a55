// perplexity(): one prefill over all tokens, then logits and cross-entropy in row chunks so a
// long text never holds a (T, V) logits matrix at once.
#include "runtime/perplexity.h"

#include <chrono>
#include <cmath>

#include "ops/ops.h"

namespace ferris::runtime {

PerplexityResult perplexity(const models::qwen2::Qwen2Model& model,
                            const std::vector<int32_t>& ids) {
    const int64_t n = static_cast<int64_t>(ids.size());
    if (n < 2) fail(ErrorCode::InvalidArgument, "perplexity needs at least 2 tokens, got ", n);
    const int64_t context = model.config().max_position_embeddings;
    if (n > context)
        fail(ErrorCode::InvalidArgument, "the text has ", n, " tokens, more than the context of ",
             context);
    for (int32_t id : ids)
        if (id < 0 || id >= model.config().vocab_size)
            fail(ErrorCode::InvalidArgument, "token id ", id, " is outside the vocabulary");
    const auto t0 = std::chrono::steady_clock::now();
    nn::KvCache cache = model.new_cache(n, DType::F32);
    Tensor hidden = model.forward_hidden(ids, cache);  // (n, C)

    PerplexityResult r;
    r.n_tokens = n;
    r.token_nll.reserve(static_cast<size_t>(n - 1));
    constexpr int64_t kChunk = 256;
    double total = 0;
    for (int64_t r0 = 0; r0 < n - 1; r0 += kChunk) {
        const int64_t rows = std::min(kChunk, n - 1 - r0);
        Tensor logits = model.logits(hidden.narrow(0, r0, rows));
        std::vector<int32_t> targets(ids.begin() + r0 + 1, ids.begin() + r0 + 1 + rows);
        Tensor t = ops::to_device(Tensor::from_ints({rows}, targets), model.device());
        std::vector<float> nll = ops::to_host_floats(ops::cross_entropy(logits, t));
        for (float v : nll) {
            total += v;
            r.token_nll.push_back(v);
        }
    }
    r.nll = total / static_cast<double>(n - 1);
    r.ppl = std::exp(r.nll);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace ferris::runtime
