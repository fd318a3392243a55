// CPU embedding lookup: rows of a (V, C) table in any float dtype, gathered into f32.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "core/parallel.h"

namespace ferris::cpu {

void CpuBackend::embedding(Tensor& out, const Tensor& table, const Tensor& ids) {
    TraceScope trace("embedding");
    const int64_t n = ids.numel(), c = table.size(1);
    const int32_t* id = ids.data<int32_t>();
    const size_t row_bytes = static_cast<size_t>(c) * dtype_size(table.dtype());
    const char* base = static_cast<const char*>(table.raw());
    float* o = out.data<float>();
    parallel_for(n, min_grain_for(c), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
            convert_floats(base + static_cast<size_t>(id[i]) * row_bytes, table.dtype(), o + i * c,
                           DType::F32, static_cast<size_t>(c));
    });
}

}  // namespace ferris::cpu
