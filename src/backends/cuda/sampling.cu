// The `sample` op on the GPU: the CPU's semantics (backends/cpu/sampling.h) without a sort and
// without leaving the device. Kernels, in stream order:
//  1. transform (vocabulary-wide): repetition penalty and temperature into scratch x, per-block
//     argmax; greedy (temperature 0) ends with a one-block argmax of those;
//  2. histogram of the distance max - x in 1/64-nat bins: counts and probability mass;
//  3. count + compact: from the histogram, a bin cut no surviving token lies beyond (top-k's k-th
//     value, top-p's mass with a margin, min-p's ratio); the tokens inside it, in id order;
//  4. one block of 1024 threads runs the exact filters on those candidates (radix walks over
//     order-preserving keys, sampling_block.cuh) and the inverse CDF in id order.
// exp in f32; the filters' masses summed in double, the CDF in f32 chunks and a double scan: the
// token can differ from the CPU's (double) only when u lies within ~1e-6 of a CDF boundary.
#include <climits>
#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/sampling.cuh"
#include "backends/cuda/sampling_block.cuh"

namespace ferris::cuda {

namespace {

using namespace sampling;

constexpr int kSliceThreads = 256;
constexpr int kPerThread = 8;
constexpr int kSlice = kSliceThreads * kPerThread;  // tokens per block of the wide kernels
constexpr int kDistanceBins = 2048;                 // max - x in [0, 32) nats, 64 bins a nat
constexpr float kBinsPerNat = 64.0f;
constexpr int kFilterThreads = 1024;
static_assert(kDistanceBins == kSliceThreads * 8, "cut_bin gives each thread 8 bins");

struct State {
    float max_value;
    int32_t max_id;
    int32_t cut_bin;  // candidates: distance_bin(x) <= cut_bin
    int32_t n_list;   // candidates compacted into the list, or -1: too many, x is used
};

// Probability mass is summed in double (see WalkShared in sampling_block.cuh).
struct Scratch {
    double* hist_mass;     // (kDistanceBins)
    unsigned* hist_count;  // (kDistanceBins)
    State* state;
    float* x;              // (V) penalized, tempered logits
    float* list_x;         // (V) candidates, in id order
    int32_t* list_id;      // (V) their ids
    float* part_value;     // (blocks) each block's maximum of x
    int32_t* part_id;      // (blocks) its first id
    int32_t* block_count;  // (blocks) candidates per block
};

constexpr int64_t kStateWords = sizeof(State) / 4;
static_assert(kStateWords % 2 == 0, "keeps the words after it 8-byte aligned");

int blocks_for(int64_t v) { return static_cast<int>((v + kSlice - 1) / kSlice); }

// The scratch words in Scratch's order; the doubles first, on the allocation's alignment.
Scratch carve(void* scratch, int64_t v) {
    const int64_t blocks = blocks_for(v);
    auto* w = static_cast<uint32_t*>(scratch);
    Scratch s{};
    s.hist_mass = reinterpret_cast<double*>(w);
    w += 2 * kDistanceBins;
    s.hist_count = w;
    w += kDistanceBins;
    s.state = reinterpret_cast<State*>(w);
    w += kStateWords;
    s.x = reinterpret_cast<float*>(w);
    s.list_x = reinterpret_cast<float*>(w + v);
    s.list_id = reinterpret_cast<int32_t*>(w + 2 * v);
    s.part_value = reinterpret_cast<float*>(w + 3 * v);
    s.part_id = reinterpret_cast<int32_t*>(w + 3 * v + blocks);
    s.block_count = reinterpret_cast<int32_t*>(w + 3 * v + 2 * blocks);
    return s;
}

// The histogram bin of x: (max - x) in 1/64 nats, the last bin from 32 nats on (and -inf).
// Non-increasing in x, so a bin cut keeps a top set by value, ties included.
__device__ __forceinline__ int distance_bin(float x, float mx) {
    const float d = (mx - x) * kBinsPerNat;
    return d < static_cast<float>(kDistanceBins - 1) ? static_cast<int>(d) : kDistanceBins - 1;
}

__device__ __forceinline__ int64_t slice_begin() {
    return static_cast<int64_t>(blockIdx.x) * kSlice + threadIdx.x * kPerThread;
}

// The CPU's f32 arithmetic: penalty (seen ids: positive / p, negative * p), then / temperature.
__device__ __forceinline__ float penalized_tempered(const SampleArgs& a, int i) {
    float x = a.logits[i];
    if (a.repetition_penalty != 1.0f && a.seen[i] != 0)
        x = x < 0.0f ? x * a.repetition_penalty : x / a.repetition_penalty;
    if (a.temperature != 0.0f) x = x / a.temperature;
    return x;
}

// The blocks' maxima reduced: the max of x and its first id.
__device__ void reduce_parts(const Scratch& s, int blocks, float& mx, int& id) {
    mx = -INFINITY;
    id = INT_MAX;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x)
        if (better(s.part_value[b], s.part_id[b], mx, id)) {
            mx = s.part_value[b];
            id = s.part_id[b];
        }
    block_best(mx, id);
}

__device__ __forceinline__ void finish(const SampleArgs& a, int id) {
    if (id < 0 || id >= a.v) id = 0;  // only NaN logits get here
    a.out[0] = id;
    a.seen[id] = 1;
}

__global__ void __launch_bounds__(kSliceThreads) transform_kernel(SampleArgs a, Scratch s) {
    if (blockIdx.x == 0)
        for (int b = threadIdx.x; b < kDistanceBins; b += kSliceThreads) {
            s.hist_count[b] = 0;
            s.hist_mass[b] = 0.0;
        }
    const int64_t begin = slice_begin();
    float best = -INFINITY;
    int best_id = INT_MAX;
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
        const int64_t i = begin + r;
        if (i >= a.v) break;
        const float x = penalized_tempered(a, static_cast<int>(i));
        s.x[i] = x;
        if (better(x, static_cast<int>(i), best, best_id)) {
            best = x;
            best_id = static_cast<int>(i);
        }
    }
    block_best(best, best_id);
    if (threadIdx.x == 0) {
        s.part_value[blockIdx.x] = best;
        s.part_id[blockIdx.x] = best_id;
    }
}

__global__ void __launch_bounds__(kSliceThreads)
    argmax_finish_kernel(SampleArgs a, Scratch s, int blocks) {
    float mx;
    int id;
    reduce_parts(s, blocks, mx, id);
    if (threadIdx.x == 0) finish(a, id);
}

__global__ void __launch_bounds__(kSliceThreads)
    histogram_kernel(SampleArgs a, Scratch s, int blocks) {
    __shared__ unsigned count[kDistanceBins];
    __shared__ double mass[kDistanceBins];
    for (int b = threadIdx.x; b < kDistanceBins; b += kSliceThreads) {
        count[b] = 0;
        mass[b] = 0.0;
    }
    float mx;
    int id;
    reduce_parts(s, blocks, mx, id);  // (its barriers publish the zeroed bins)
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        s.state->max_value = mx;
        s.state->max_id = id;
    }
    const int64_t begin = slice_begin();
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
        const int64_t i = begin + r;
        if (i >= a.v) break;
        const float x = s.x[i];
        const int bin = distance_bin(x, mx);
        atomicAdd(&count[bin], 1u);
        atomicAdd(&mass[bin], static_cast<double>(expf(x - mx)));
    }
    __syncthreads();
    for (int b = threadIdx.x; b < kDistanceBins; b += kSliceThreads)
        if (count[b] != 0) {
            atomicAdd(&s.hist_count[b], count[b]);
            atomicAdd(&s.hist_mass[b], mass[b]);
        }
}

// The candidates' bin cut, from the whole histogram (every block computes the same): no token a
// filter keeps lies in a later bin. With top-k: the bin of the k-th largest, and nothing tighter,
// so the candidates hold the whole top-k set whose mass top-p needs. Else top-p: the first bin
// where the mass from the top reaches top_p * total (a 1e-4 margin for f32 sums), and min-p:
// e >= min_p means max - x <= -ln(min_p).
__device__ int cut_bin(const SampleArgs& a, const Scratch& s) {
    __shared__ int cut;
    const int first = threadIdx.x * 8;
    double count = 0.0, mass = 0.0;
    for (int r = 0; r < 8; ++r) {
        count += s.hist_count[first + r];
        mass += s.hist_mass[first + r];
    }
    double total_count = 0.0, total_mass = 0.0;
    const double count_before = block_exclusive_scan(count, total_count);
    const double mass_before = block_exclusive_scan(mass, total_mass);
    if (threadIdx.x == 0) cut = kDistanceBins - 1;
    __syncthreads();
    const bool top_k = a.top_k > 0 && a.top_k < a.v;
    if (top_k) {
        double cum = count_before;
        for (int r = 0; r < 8; ++r) {
            cum += s.hist_count[first + r];
            if (cum >= a.top_k) {
                atomicMin(&cut, first + r);
                break;
            }
        }
    }
    const double mass_target = static_cast<double>(a.top_p) * (1.0 + 1e-4) * total_mass;
    if (!top_k && a.top_p < 1.0f && mass_target < total_mass) {
        double cum = mass_before;
        for (int r = 0; r < 8; ++r) {
            cum += s.hist_mass[first + r];
            if (cum >= mass_target) {
                atomicMin(&cut, first + r);
                break;
            }
        }
    }
    if (!top_k && a.min_p > 0.0f && threadIdx.x == 0) {
        const float distance = -logf(a.min_p) + 1e-3f;
        atomicMin(&cut, min(kDistanceBins - 1, distance_bin(-distance, 0.0f) + 1));
    }
    __syncthreads();
    return cut;
}

__global__ void __launch_bounds__(kSliceThreads) count_kernel(SampleArgs a, Scratch s) {
    __shared__ double partial[32];
    const int cut = cut_bin(a, s);
    if (blockIdx.x == 0 && threadIdx.x == 0) s.state->cut_bin = cut;
    const float mx = s.state->max_value;
    const int64_t begin = slice_begin();
    double mine = 0.0;
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
        const int64_t i = begin + r;
        if (i < a.v && distance_bin(s.x[i], mx) <= cut) mine += 1.0;
    }
    const double n = block_reduce<double>(mine, partial);
    if (threadIdx.x == 0) s.block_count[blockIdx.x] = static_cast<int32_t>(n);
}

// Writes the candidates in id order (this block's after the earlier blocks'), when they are at
// most half the vocabulary; else the filters read x itself.
__global__ void __launch_bounds__(kSliceThreads)
    compact_kernel(SampleArgs a, Scratch s, int blocks) {
    __shared__ double partial[32];
    double before = 0.0, total = 0.0;
    for (int b = threadIdx.x; b < blocks; b += kSliceThreads) {
        total += s.block_count[b];
        if (b < static_cast<int>(blockIdx.x)) before += s.block_count[b];
    }
    before = block_reduce<double>(before, partial);
    total = block_reduce<double>(total, partial);
    const bool compact = 2.0 * total <= static_cast<double>(a.v);
    if (blockIdx.x == 0 && threadIdx.x == 0)
        s.state->n_list = compact ? static_cast<int32_t>(total) : -1;
    if (!compact) return;
    const int cut = s.state->cut_bin;
    const float mx = s.state->max_value;
    const int64_t begin = slice_begin();
    float x[kPerThread];
    bool keep[kPerThread];
    double mine = 0.0;
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
        const int64_t i = begin + r;
        x[r] = i < a.v ? s.x[i] : -INFINITY;
        keep[r] = i < a.v && distance_bin(x[r], mx) <= cut;
        mine += keep[r] ? 1.0 : 0.0;
    }
    double unused = 0.0;
    int pos = static_cast<int>(before + block_exclusive_scan(mine, unused));
#pragma unroll
    for (int r = 0; r < kPerThread; ++r)
        if (keep[r]) {
            s.list_x[pos] = x[r];
            s.list_id[pos] = static_cast<int32_t>(begin + r);
            ++pos;
        }
}

// Sum of the histogram's mass beyond the cut: tokens ranked below every candidate.
__device__ double mass_beyond(const Scratch& s, int cut) {
    __shared__ double partial[32];
    double m = 0.0;
    for (int b = cut + 1 + static_cast<int>(threadIdx.x); b < kDistanceBins; b += blockDim.x)
        m += s.hist_mass[b];
    return block_reduce<double>(m, partial);
}

// The exact filters on the candidates, then the inverse CDF in id order. `use_list`: the count
// and compact kernels ran (some filter is on).
__global__ void __launch_bounds__(kFilterThreads)
    filter_kernel(SampleArgs a, Scratch s, bool use_list) {
    __shared__ WalkShared sh;
    const State st = *s.state;
    const float mx = st.max_value;
    const bool listed = use_list && st.n_list >= 0;
    const Candidates c =
        listed ? Candidates{s.list_x, s.list_id, st.n_list} : Candidates{s.x, nullptr, a.v};
    // The candidates hold the whole top-k set (see cut_bin), so its k-th value is theirs.
    const bool top_k = a.top_k > 0 && a.top_k < c.n;
    const uint32_t floor = top_k ? top_k_floor(c, a.top_k, sh) : 0u;
    Cut cut;
    if (a.top_p < 1.0f) {
        // Without top-k the total mass includes the tokens left out of the list.
        const bool all_k = a.top_k <= 0 || a.top_k >= a.v;
        const double rest = all_k && listed ? mass_beyond(s, st.cut_bin) : 0.0;
        cut = top_p_cut(c, floor, mx, a.top_p, rest, sh);
    }
    const float min_p = a.min_p;
    auto weight = [&](int j) -> float {
        const float x = c.x[j];
        const uint32_t key = order_key(x);
        if (key < floor || key < cut.key || (key == cut.key && c.id_at(j) > cut.last_tie))
            return 0.0f;
        const float d = x - mx;
        const float e = expf(d);
        return passes_min_p(e, d, min_p) ? e : 0.0f;
    };
    const double u = static_cast<double>(a.uniform[0]) / 9007199254740992.0;  // / 2^53
    const int j = ordered_find(
        c, weight, [u](double total) { return u * total; }, sh);
    if (threadIdx.x == 0) finish(a, j >= 0 ? c.id_at(j) : st.max_id);
}

}  // namespace

int64_t sample_scratch_words(int64_t v) {
    return 3 * kDistanceBins + kStateWords + 3 * v + 3 * static_cast<int64_t>(blocks_for(v));
}

void sample(const SampleArgs& a, void* scratch, cudaStream_t stream) {
    const int blocks = blocks_for(a.v);
    const Scratch s = carve(scratch, a.v);
    transform_kernel<<<blocks, kSliceThreads, 0, stream>>>(a, s);
    FERRIS_CUDA_LAUNCH_CHECK("sample transform_kernel");
    if (a.temperature == 0.0f) {
        argmax_finish_kernel<<<1, kSliceThreads, 0, stream>>>(a, s, blocks);
        FERRIS_CUDA_LAUNCH_CHECK("sample argmax_finish_kernel");
        return;
    }
    histogram_kernel<<<blocks, kSliceThreads, 0, stream>>>(a, s, blocks);
    FERRIS_CUDA_LAUNCH_CHECK("sample histogram_kernel");
    // With no filter every token is a candidate: nothing to count or compact.
    const bool filtered = (a.top_k > 0 && a.top_k < a.v) || a.top_p < 1.0f || a.min_p > 0.0f;
    if (filtered) {
        count_kernel<<<blocks, kSliceThreads, 0, stream>>>(a, s);
        FERRIS_CUDA_LAUNCH_CHECK("sample count_kernel");
        compact_kernel<<<blocks, kSliceThreads, 0, stream>>>(a, s, blocks);
        FERRIS_CUDA_LAUNCH_CHECK("sample compact_kernel");
    }
    filter_kernel<<<1, kFilterThreads, 0, stream>>>(a, s, filtered);
    FERRIS_CUDA_LAUNCH_CHECK("sample filter_kernel");
}

}  // namespace ferris::cuda
