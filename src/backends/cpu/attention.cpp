// CPU grouped-query attention (causal or bidirectional, right padding or packed sequences,
// optional relative-position bias). K/V may be f32, f16 or bf16 (the KV cache dtype).
// Decode (few queries): one task per (batch, head, query) — scores against the visible keys, a
// max-subtracted softmax in f32, then the weighted sum of values.
// Prefill (many queries): tasks of 64 queries x one kv head (x some of its query heads when
// tasks are few), each running its heads as two sgemm calls (Q K^T, then P V) around a masked
// softmax, so the work goes through BLAS instead of one dot product per key. Half-precision
// keys and values are converted to f32 once a call; f32 ones are read in place.

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"
#include "backends/cpu/simd.h"
#include "core/parallel.h"
#include "ferris/threads.h"

namespace ferris::cpu {

namespace {

constexpr int64_t kQueryBlock = 64;

// The keys query t of batch row b sees: [begin(t), end(b, t)). With segments (packed sequences,
// B == 1, T == S) a query sees its own sequence only.
struct Visibility {
    bool causal;
    int64_t q_offset, s_n;
    const int32_t* key_lengths;   // (B) or null
    const int32_t* seg_starts;    // (NS + 1) or null
    std::vector<int32_t> seg_of;  // segment of each query, when segmented
    int64_t begin(int64_t t) const { return seg_starts ? seg_starts[seg_of[t]] : 0; }
    int64_t end(int64_t b, int64_t t) const {
        if (seg_starts) return causal ? t + 1 : seg_starts[seg_of[t] + 1];
        const int64_t keys = key_lengths ? key_lengths[b] : s_n;
        return causal ? std::min(keys, q_offset + t + 1) : keys;
    }
};

// Adds bias[h, s - t + W - 1] to row[s - first] for keys s in [first, last) (bias (NH, 2W - 1)).
inline void add_relative_bias(float* row, const float* bias, int64_t bias_width, int64_t h,
                              int64_t t, int64_t first, int64_t last) {
    const int64_t w = (bias_width + 1) / 2;
    const float* b = bias + h * bias_width + (w - 1 - t);
    for (int64_t s = first; s < last; ++s) row[s - first] += b[s];
}

// Query blocks of at most kQueryBlock rows that never cross a segment boundary.
struct QueryBlock {
    int64_t t0, tq;
};
std::vector<QueryBlock> query_blocks(const Visibility& vis, int64_t t_n, int64_t n_segments) {
    std::vector<QueryBlock> blocks;
    auto cut = [&](int64_t from, int64_t to) {
        for (int64_t t0 = from; t0 < to; t0 += kQueryBlock)
            blocks.push_back({t0, std::min(kQueryBlock, to - t0)});
    };
    if (!vis.seg_starts) {
        cut(0, t_n);
    } else {
        for (int64_t g = 0; g < n_segments; ++g) cut(vis.seg_starts[g], vis.seg_starts[g + 1]);
    }
    return blocks;
}

// The masked softmax of one score row in place: keys [0, seen) normalized, [seen, visible) zero.
void softmax_row(float* row, int64_t seen, int64_t visible) {
    int64_t s = 0;
    VecF vmx = vset1(-INFINITY);
    for (; s + kLanes <= seen; s += kLanes) vmx = vmax(vmx, vload(row + s));
    float mx = vhmax(vmx);
    for (; s < seen; ++s) mx = std::max(mx, row[s]);
    const VecF vm = vset1(mx);
    VecF vsum_acc = vzero();
    for (s = 0; s + kLanes <= seen; s += kLanes) {
        const VecF e = vexp(vsub(vload(row + s), vm));
        vstore(row + s, e);
        vsum_acc = vadd(vsum_acc, e);
    }
    float sum = vsum(vsum_acc);
    for (; s < seen; ++s) sum += (row[s] = std::exp(row[s] - mx));
    const float inv = seen > 0 ? 1.0f / sum : 0.0f;
    const VecF vinv = vset1(inv);
    for (s = 0; s + kLanes <= seen; s += kLanes) vstore(row + s, vmul(vload(row + s), vinv));
    for (; s < seen; ++s) row[s] *= inv;
    std::fill(row + seen, row + visible, 0.0f);
}

// K or V as f32 rows for the sgemm calls: the tensor itself when it is f32 (read with its own
// strides), else converted once a call for every task, keys [0, key_end) of every batch row.
struct F32Rows {
    const float* base;
    int64_t batch_stride, key_stride;
    std::vector<float> converted;
    F32Rows(const char* p, DType dt, int64_t bstride, int64_t kstride, int64_t b_n, int64_t key_end,
            int64_t width) {
        if (dt == DType::F32) {
            base = reinterpret_cast<const float*>(p);
            batch_stride = bstride;
            key_stride = kstride;
            return;
        }
        converted.resize(static_cast<size_t>(b_n * key_end * width));
        const size_t es = dtype_size(dt);
        parallel_for(b_n * key_end, min_grain_for(width), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / key_end, key = r % key_end;
                convert_floats(p + (b * bstride + key * kstride) * static_cast<int64_t>(es), dt,
                               converted.data() + r * width, DType::F32,
                               static_cast<size_t>(width));
            }
        });
        base = converted.data();
        batch_stride = key_end * width;
        key_stride = width;
    }
    const float* row(int64_t b, int64_t key) const {
        return base + b * batch_stride + key * key_stride;
    }
};

void attention_prefill(float* op, const float* qp, const char* kp, const char* vp, DType kd,
                       DType vd, int64_t b_n, int64_t t_n, int64_t nh, int64_t hs, int64_t nkv,
                       int64_t kb, int64_t ks, int64_t vb, int64_t vs, const Visibility& vis,
                       const std::vector<QueryBlock>& blocks, const float* bias, int64_t bias_width,
                       float scale) {
    const int64_t group = nh / nkv, qblocks = static_cast<int64_t>(blocks.size());
    // Few (batch, kv head, query block) tasks for many threads: split the group's query heads
    // over tasks too.
    const int64_t per_group = b_n * nkv * qblocks >= 4 * num_threads() ? group : 1;
    const int64_t hchunks = (group + per_group - 1) / per_group;
    const int64_t tasks = b_n * nkv * hchunks * qblocks;
    // The last query of a batch row sees the most keys (causal, padded or packed alike).
    int64_t key_end = 0;
    for (int64_t b = 0; b < b_n; ++b) key_end = std::max(key_end, vis.end(b, t_n - 1));
    const F32Rows keys(kp, kd, kb, ks, b_n, key_end, nkv * hs);
    const F32Rows values(vp, vd, vb, vs, b_n, key_end, nkv * hs);
    blas_core();  // OpenBLAS loaded on this thread, not inside the loop (blas.cpp says why)
    parallel_for(tasks, 1, [&](int64_t task0, int64_t task1) {
        std::vector<float> scores;
        for (int64_t task = task0; task < task1; ++task) {
            // Later query blocks see more keys: hand them out first (task order reversed).
            const int64_t rev = tasks - 1 - task;
            const int64_t per_block = b_n * nkv * hchunks, inner = rev % per_block;
            const int64_t qb = rev / per_block, hc = inner % hchunks, kvh = (inner / hchunks) % nkv,
                          b = inner / (hchunks * nkv);
            const int64_t t0 = blocks[qb].t0, tq = blocks[qb].tq;
            // Every row of a block starts at the same key; the last row sees the most.
            const int64_t first = vis.begin(t0);
            const int64_t visible = std::max<int64_t>(0, vis.end(b, t0 + tq - 1) - first);
            const int64_t h_begin = kvh * group + hc * per_group;
            const int64_t h_end = std::min(kvh * group + group, h_begin + per_group);
            if (visible == 0) {  // only padding: zeros, as a query that sees no key
                for (int64_t h = h_begin; h < h_end; ++h)
                    for (int64_t i = 0; i < tq; ++i)
                        std::fill_n(op + ((b * t_n + t0 + i) * nh + h) * hs, hs, 0.0f);
                continue;
            }
            const float* kf = keys.row(b, first) + kvh * hs;
            const float* vf = values.row(b, first) + kvh * hs;
            scores.resize(static_cast<size_t>(tq * visible));
            for (int64_t h = h_begin; h < h_end; ++h) {
                const float* q = qp + ((b * t_n + t0) * nh + h) * hs;
                sgemm(true, static_cast<int>(tq), static_cast<int>(visible), static_cast<int>(hs),
                      scale, q, static_cast<int>(nh * hs), kf, static_cast<int>(keys.key_stride),
                      0.0f, scores.data(), static_cast<int>(visible));
                for (int64_t i = 0; i < tq; ++i) {
                    float* row = scores.data() + i * visible;
                    const int64_t seen = std::max<int64_t>(0, vis.end(b, t0 + i) - first);
                    if (bias)
                        add_relative_bias(row, bias, bias_width, h, t0 + i, first, first + seen);
                    softmax_row(row, seen, visible);
                }
                sgemm(false, static_cast<int>(tq), static_cast<int>(hs), static_cast<int>(visible),
                      1.0f, scores.data(), static_cast<int>(visible), vf,
                      static_cast<int>(values.key_stride), 0.0f,
                      op + ((b * t_n + t0) * nh + h) * hs, static_cast<int>(nh * hs));
            }
        }
    });
}

}  // namespace

void CpuBackend::attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionMask& mask, float scale) {
    TraceScope trace("attention");
    if (q.dtype() != DType::F32 || !q.is_contiguous()) {  // as f32, contiguous
        Tensor o = empty(out.shape(), DType::F32);
        Tensor qc = empty(q.shape(), DType::F32);
        copy(qc, q);
        attention(o, qc, k, v, mask, scale);
        copy(out, o);
        return;
    }
    const int64_t b_n = q.size(0), t_n = q.size(1), nh = q.size(2), hs = q.size(3);
    const int64_t s_n = k.size(1), nkv = k.size(2), group = nh / nkv;
    const DType kd = k.dtype(), vd = v.dtype();
    const size_t ke = dtype_size(kd), ve = dtype_size(vd);
    const char* kp = static_cast<const char*>(k.raw());
    const char* vp = static_cast<const char*>(v.raw());
    const int64_t kb = k.strides()[0], ks = k.strides()[1], vb = v.strides()[0],
                  vs = v.strides()[1];
    const float* qp = q.data<float>();
    float* op = out.data<float>();
    Visibility vis{mask.causal,
                   mask.q_offset,
                   s_n,
                   mask.key_lengths.defined() ? mask.key_lengths.data<int32_t>() : nullptr,
                   mask.segments.defined() ? mask.segments.data<int32_t>() : nullptr,
                   {}};
    const int64_t n_segments = mask.segments.defined() ? mask.segments.size(0) - 1 : 0;
    if (vis.seg_starts) {
        vis.seg_of.resize(static_cast<size_t>(t_n));
        for (int64_t g = 0; g < n_segments; ++g)
            for (int64_t t = vis.seg_starts[g]; t < vis.seg_starts[g + 1]; ++t)
                vis.seg_of[t] = static_cast<int32_t>(g);
    }
    const float* bias = mask.relative_bias.defined() ? mask.relative_bias.data<float>() : nullptr;
    const int64_t bias_width = bias ? mask.relative_bias.size(1) : 0;
    if (t_n >= 16) {
        attention_prefill(op, qp, kp, vp, kd, vd, b_n, t_n, nh, hs, nkv, kb, ks, vb, vs, vis,
                          query_blocks(vis, t_n, n_segments), bias, bias_width, scale);
        return;
    }
    const int64_t tasks = b_n * nh * t_n;
    parallel_for(tasks, min_grain_for(s_n * hs * 2), [&](int64_t task0, int64_t task1) {
        std::vector<float> p(static_cast<size_t>(s_n));
        std::vector<float> acc(static_cast<size_t>(hs));
        for (int64_t task = task0; task < task1; ++task) {
            const int64_t t = task % t_n, h = (task / t_n) % nh, b = task / (t_n * nh);
            const int64_t kvh = h / group;
            const int64_t first = vis.begin(t);
            const int64_t visible = std::max<int64_t>(0, vis.end(b, t) - first);
            const float* qr = qp + ((b * t_n + t) * nh + h) * hs;
            for (int64_t s = 0; s < visible; ++s) {
                const void* kr =
                    kp + ((b * kb + (first + s) * ks) + kvh * hs) * static_cast<int64_t>(ke);
                p[s] = dot_f32(qr, kr, kd, hs) * scale;
            }
            if (bias) add_relative_bias(p.data(), bias, bias_width, h, t, first, first + visible);
            float mx = -INFINITY;
            for (int64_t s = 0; s < visible; ++s) mx = p[s] > mx ? p[s] : mx;
            float sum = 0;
            for (int64_t s = 0; s < visible; ++s) {
                p[s] = std::exp(p[s] - mx);
                sum += p[s];
            }
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t s = 0; s < visible; ++s) {
                const char* vr =
                    vp + ((b * vb + (first + s) * vs) + kvh * hs) * static_cast<int64_t>(ve);
                const VecF w = vset1(p[s]);
                int64_t i = 0;
                if (vd == DType::F32) {
                    const float* vf = reinterpret_cast<const float*>(vr);
                    for (; i + kLanes <= hs; i += kLanes)
                        vstore(acc.data() + i, vfma(w, vload(vf + i), vload(acc.data() + i)));
                } else {
                    const uint16_t* vh = reinterpret_cast<const uint16_t*>(vr);
                    for (; i + kLanes <= hs; i += kLanes)
                        vstore(acc.data() + i, vfma(w, vload(vh + i, vd), vload(acc.data() + i)));
                }
                for (; i < hs; ++i) acc[i] += p[s] * load_float(vr, vd, i);
            }
            float* orow = op + ((b * t_n + t) * nh + h) * hs;
            const float inv = visible > 0 ? 1.0f / sum : 0.0f;
            for (int64_t i = 0; i < hs; ++i) orow[i] = acc[i] * inv;
        }
    });
}

}  // namespace ferris::cpu
