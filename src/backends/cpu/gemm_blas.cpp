// gemm_blas: OpenBLAS sgemm on row chunks of x or on blocks of W's output rows, whichever
// OpenBLAS packs less of (it packs both operands on every call).
#include "backends/cpu/gemm_blas.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "backends/cpu/blas.h"
#include "core/parallel.h"
#include "ferris/threads.h"

namespace ferris::cpu {

namespace {

// Row chunks against the whole f32 W: OpenBLAS packs both operands on every call, so cutting W
// into column blocks would pack x once per block; with many rows (an encoder batch: thousands
// of rows against a few hundred outputs) x is the larger one, and cutting x packs W once per
// chunk instead. e5-small-v2, 100 docs, 2 threads (perf): OpenBLAS's packing of the operand
// cut into pieces (sgemm_oncopy) went from 16% of the time to 5%.
void row_chunk_gemm(float* out, const float* x, const float* w, int64_t rows, int64_t in,
                    int64_t outs) {
    const int64_t threads = num_threads();
    int64_t chunk = (rows + threads * 4 - 1) / (threads * 4);
    chunk = std::clamp<int64_t>((chunk + 15) / 16 * 16, 64, std::max<int64_t>(64, rows));
    const int64_t chunks = (rows + chunk - 1) / chunk;
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t r0 = c * chunk, rc = std::min(chunk, rows - r0);
            sgemm(true, static_cast<int>(rc), static_cast<int>(outs), static_cast<int>(in), 1.0f,
                  x + r0 * in, static_cast<int>(in), w, static_cast<int>(in), 0.0f, out + r0 * outs,
                  static_cast<int>(outs));
        }
    });
}

// Half weights as one f32 copy for this call, converted by row ranges in parallel: O * I
// conversions against N * O * I multiplies. Freed after the call: copies of every weight kept
// would undo what half weights save.
std::unique_ptr<float[]> weights_as_f32(const void* w, DType dt, int64_t in, int64_t outs) {
    std::unique_ptr<float[]> wf(new float[static_cast<size_t>(outs * in)]);
    const size_t es = dtype_size(dt);
    parallel_for(outs, min_grain_for(in), [&](int64_t o0, int64_t o1) {
        convert_floats(static_cast<const char*>(w) + o0 * in * es, dt, wf.get() + o0 * in,
                       DType::F32, static_cast<size_t>((o1 - o0) * in));
    });
    return wf;
}

}  // namespace

void gemm_blas(float* out, const float* x, const void* w, DType dt, int64_t rows, int64_t in,
               int64_t outs) {
    blas_core();  // OpenBLAS loaded on this thread, not inside the loops (blas.cpp says why)
    // Many rows (an encoder batch, a long prompt): x is the larger operand; cut it, never W.
    if (rows >= outs) {
        if (dt == DType::F32) {
            row_chunk_gemm(out, x, static_cast<const float*>(w), rows, in, outs);
        } else {
            row_chunk_gemm(out, x, weights_as_f32(w, dt, in, outs).get(), rows, in, outs);
        }
        return;
    }
    // Otherwise W is cut into blocks of output rows, each converted to f32 (half weights) in a
    // thread's buffer: the conversion costs O(O * I) against O(N * O * I) arithmetic.
    const int64_t threads = num_threads();
    int64_t block = (outs + threads * 4 - 1) / (threads * 4);
    block = std::clamp<int64_t>((block + 15) / 16 * 16, 16, 256);
    const int64_t blocks = (outs + block - 1) / block;
    const size_t es = dtype_size(dt);
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        std::vector<float> buf(dt == DType::F32 ? 0 : static_cast<size_t>(block * in));
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t o0 = b * block, ob = std::min(block, outs - o0);
            const char* src = static_cast<const char*>(w) + o0 * in * es;
            const float* wb = reinterpret_cast<const float*>(src);
            if (dt != DType::F32) {
                convert_floats(src, dt, buf.data(), DType::F32, static_cast<size_t>(ob * in));
                wb = buf.data();
            }
            sgemm(true, static_cast<int>(rows), static_cast<int>(ob), static_cast<int>(in), 1.0f, x,
                  static_cast<int>(in), wb, static_cast<int>(in), 0.0f, out + o0,
                  static_cast<int>(outs));
        }
    });
}

}  // namespace ferris::cpu
