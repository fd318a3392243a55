// CPU cross-entropy per row: logsumexp(logits) - logits[target], accumulated in double.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::cross_entropy(Tensor& out, const Tensor& logits, const Tensor& targets) {
    TraceScope trace("cross_entropy");
    const int64_t n = logits.size(0), v = logits.size(1);
    const float* lp = logits.data<float>();
    const int32_t* tp = targets.data<int32_t>();
    float* op = out.data<float>();
    parallel_for(n, min_grain_for(v * 8), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* row = lp + r * v;
            float mx = row[0];
            for (int64_t i = 1; i < v; ++i) mx = row[i] > mx ? row[i] : mx;
            double s = 0;
            for (int64_t i = 0; i < v; ++i) s += std::exp(static_cast<double>(row[i] - mx));
            op[r] = static_cast<float>(std::log(s) + mx - row[tp[r]]);
        }
    });
}

}  // namespace ferris::cpu
