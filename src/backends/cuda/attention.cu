// Attention kernels in f32 (SIMT, no tensor cores: f32 parity with the CPU first). Prefill: a block
// = 32 queries of one head (4 warps x 8 rows), K/V tiles of 32 keys in shared memory as f32, lane l
// scores key l, online softmax per row, lanes own HS/32 output dims for P V. Decode: a block = one
// query row x one slice of the keys; warps take 4 keys at a time, lanes split HS; the partials
// (max, sum, o) of the slices are merged by a combine kernel (flash-decoding).
#include <algorithm>

#include "backends/cuda/attention.cuh"
#include "backends/cuda/attention_mask.cuh"
#include "backends/cuda/check.h"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.cuh"

namespace ferris::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 8;             // query rows per warp (prefill)
constexpr int kBq = kWarps * kRows;  // query rows per block (prefill)
constexpr int kBk = 32;              // keys per tile (prefill)
constexpr int kUnroll = 4;           // keys per warp iteration (decode)
// Decode splits of at least this many keys. Short contexts are latency-bound on each warp's
// serial pass over its keys, so more, shorter splits pay: at 16 rather than 64 keys a split, a
// Qwen2.5-0.5B step after a 16-token prompt took 991 rather than 1,150 us (H200, dev/NOTES.md).
constexpr int64_t kMinKeysPerSplit = 16;
constexpr int64_t kMaxSplits = 1024;  // the combine keeps one weight a split in shared memory

template <int D>
size_t prefill_smem_bytes() {
    return sizeof(float) * (kBq * D + kBk * (D + 1) + kBk * D + kWarps * kRows * kBk);
}

template <int D>
__global__ void __launch_bounds__(kThreads) prefill_kernel(AttentionArgs a) {
    constexpr int kSlices = D / 32;
    extern __shared__ float4 smem4[];
    float* qs = reinterpret_cast<float*>(smem4);  // (kBq, D), zero padded past HS
    float* ks = qs + kBq * D;                     // (kBk, D + 1): +1 avoids bank conflicts
    float* vs = ks + kBk * (D + 1);               // (kBk, D)
    float* ps = vs + kBk * D;                     // (kWarps, kRows, kBk)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t b = blockIdx.z, h = blockIdx.y;
    const int64_t t0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kBq;  // long tiles first
    const int64_t kvh = h / (a.nh / a.nkv), hs = a.hs;
    // The block's keys: from its first row's begin to its last row's end.
    const int64_t first = range_of(a, b, t0).begin;
    const int64_t last = max(first, range_of(a, b, min(t0 + kBq, a.t_n) - 1).end);

    for (int idx = threadIdx.x; idx < kBq * D; idx += kThreads) {
        const int r = idx / D, d = idx % D;
        const int64_t t = t0 + r;
        qs[idx] = (t < a.t_n && d < hs)
                      ? static_cast<const float*>(a.q)[((b * a.t_n + t) * a.nh + h) * hs + d]
                      : 0.0f;
    }
    float m[kRows], l[kRows], acc[kRows][kSlices];
    KeyRange range[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        range[i] = range_of(a, b, t0 + warp * kRows + i);
#pragma unroll
        for (int j = 0; j < kSlices; ++j) acc[i][j] = 0.0f;
    }
    const int64_t hs4 = (hs + 3) / 4 * 4;
    float* prow = ps + warp * kRows * kBk;
    for (int64_t s0 = first; s0 < last; s0 += kBk) {
        __syncthreads();  // previous tile fully consumed (and the Q tile written)
        for (int idx = threadIdx.x; idx < kBk * D; idx += kThreads) {
            const int j = idx / D, d = idx % D;
            const int64_t s = s0 + j;
            const bool ok = s < last && d < hs;
            ks[j * (D + 1) + d] =
                ok ? load_any(a.k, a.kv_dtype, b * a.k_batch + s * a.k_seq + kvh * hs + d) : 0.0f;
            vs[j * D + d] =
                ok ? load_any(a.v, a.kv_dtype, b * a.v_batch + s * a.v_seq + kvh * hs + d) : 0.0f;
        }
        __syncthreads();
        float sc[kRows];
#pragma unroll
        for (int i = 0; i < kRows; ++i) sc[i] = 0.0f;
        const float* krow = ks + lane * (D + 1);
        for (int64_t d = 0; d < hs4; d += 4) {
            const float k0 = krow[d], k1 = krow[d + 1], k2 = krow[d + 2], k3 = krow[d + 3];
#pragma unroll
            for (int i = 0; i < kRows; ++i) {
                const float4 qv = *reinterpret_cast<const float4*>(qs + (warp * kRows + i) * D + d);
                sc[i] = fmaf(qv.x, k0, fmaf(qv.y, k1, fmaf(qv.z, k2, fmaf(qv.w, k3, sc[i]))));
            }
        }
        const int64_t s = s0 + lane;
#pragma unroll
        for (int i = 0; i < kRows; ++i) {
            const int64_t t = t0 + warp * kRows + i;
            const bool seen = s >= range[i].begin && s < range[i].end;
            const float x = seen ? sc[i] * a.scale + bias_of(a, h, t, s) : -INFINITY;
            const float m_new = fmaxf(m[i], warp_max(x));
            const float p = x == -INFINITY ? 0.0f : expf(x - m_new);
            const float corr = rescale(m[i], m_new);
            l[i] = l[i] * corr + warp_sum(p);
            m[i] = m_new;
#pragma unroll
            for (int j = 0; j < kSlices; ++j) acc[i][j] *= corr;
            prow[i * kBk + lane] = p;
        }
        __syncwarp();
        for (int j2 = 0; j2 < kBk; ++j2) {
            float vv[kSlices];
#pragma unroll
            for (int j = 0; j < kSlices; ++j) vv[j] = vs[j2 * D + lane + 32 * j];
#pragma unroll
            for (int i = 0; i < kRows; ++i) {
                const float p = prow[i * kBk + j2];
#pragma unroll
                for (int j = 0; j < kSlices; ++j) acc[i][j] = fmaf(p, vv[j], acc[i][j]);
            }
        }
        __syncwarp();
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
        const int64_t t = t0 + warp * kRows + i;
        if (t >= a.t_n) continue;
        const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
        float* o = static_cast<float*>(a.out) + ((b * a.t_n + t) * a.nh + h) * hs;
#pragma unroll
        for (int j = 0; j < kSlices; ++j) {
            const int d = lane + 32 * j;
            if (d < hs) o[d] = acc[i][j] * inv;
        }
    }
}

// Decode: blockIdx.x = query row (b, t, h) in q's order, blockIdx.y = key split. With one split
// the block writes the output; otherwise partials: m, l (rows, splits) and o (rows, splits, HS).
template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    decode_kernel(AttentionArgs a, int64_t chunk, float* part_m, float* part_l, float* part_o) {
    pdl_begin();
    constexpr int kSlices = D / 32;
    __shared__ float wm[kWarps], wl[kWarps];
    __shared__ float wo[kWarps][D];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    const int64_t h = row % a.nh, t = (row / a.nh) % a.t_n, b = row / (a.nh * a.t_n);
    const int64_t kvh = h / (a.nh / a.nkv), hs = a.hs;
    const KeyRange range = range_of(a, b, t);
    const int64_t s_begin = max(range.begin, split * chunk);
    const int64_t s_end = min(range.end, split * chunk + chunk);
    const T* kp = static_cast<const T*>(a.k) + b * a.k_batch + kvh * hs;
    const T* vp = static_cast<const T*>(a.v) + b * a.v_batch + kvh * hs;
    float q[kSlices], acc[kSlices];
#pragma unroll
    for (int j = 0; j < kSlices; ++j) {
        const int d = lane + 32 * j;
        q[j] = d < hs ? static_cast<const float*>(a.q)[row * hs + d] : 0.0f;
        acc[j] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t s0 = s_begin + warp * kUnroll; s0 < s_end; s0 += kWarps * kUnroll) {
        float kv[kUnroll][kSlices], vv[kUnroll][kSlices];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
#pragma unroll
            for (int j = 0; j < kSlices; ++j) {
                const int d = lane + 32 * j;
                const bool ok = s0 + u < s_end && d < hs;
                kv[u][j] = ok ? to_float(kp[(s0 + u) * a.k_seq + d]) : 0.0f;
                vv[u][j] = ok ? to_float(vp[(s0 + u) * a.v_seq + d]) : 0.0f;
            }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (s0 + u >= s_end) break;
            float dot = 0.0f;
#pragma unroll
            for (int j = 0; j < kSlices; ++j) dot = fmaf(q[j], kv[u][j], dot);
            const float x = warp_sum(dot) * a.scale + bias_of(a, h, t, s0 + u);
            const float m_new = fmaxf(m, x);
            const float corr = rescale(m, m_new), p = expf(x - m_new);
            l = l * corr + p;
            m = m_new;
#pragma unroll
            for (int j = 0; j < kSlices; ++j) acc[j] = fmaf(p, vv[u][j], acc[j] * corr);
        }
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
#pragma unroll
    for (int j = 0; j < kSlices; ++j) wo[warp][lane + 32 * j] = acc[j];
    __syncthreads();
    float mx = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, wm[w]);
    float sum = 0.0f, wgt[kWarps];
    for (int w = 0; w < kWarps; ++w) {
        wgt[w] = rescale(wm[w], mx);
        sum += wl[w] * wgt[w];
    }
    for (int64_t d = threadIdx.x; d < hs; d += kThreads) {
        float o = 0.0f;
        for (int w = 0; w < kWarps; ++w) o += wo[w][d] * wgt[w];
        if (splits == 1) {
            static_cast<float*>(a.out)[row * hs + d] = sum > 0.0f ? o / sum : 0.0f;
        } else {
            part_o[(row * splits + split) * hs + d] = o;
        }
    }
    if (splits > 1 && threadIdx.x == 0) {
        part_m[row * splits + split] = mx;
        part_l[row * splits + split] = sum;
    }
}

// The splits' partials of one row merged: warp 0 finds the splits' weights (0 for splits that saw
// no key) once, then each warp sums every 8th split over all dims, and the warps' sums are added.
// (One thread looping over every split, with an exp per split and dim, took most of a layer's
// attention at 2,048 keys.)
constexpr int kCombineThreads = 256;
__global__ void __launch_bounds__(kCombineThreads)
    combine_kernel(float* __restrict__ out, const float* __restrict__ part_m,
                   const float* __restrict__ part_l, const float* __restrict__ part_o,
                   int64_t splits, int64_t hs) {
    pdl_begin();
    constexpr int kWarpsC = kCombineThreads / 32, kSlices = kMaxAttentionHeadSize / 32;
    __shared__ float weight[kMaxSplits];
    __shared__ float warp_o[kWarpsC][kMaxAttentionHeadSize];
    __shared__ float inv;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row = blockIdx.x;
    const float* pm = part_m + row * splits;
    const float* pl = part_l + row * splits;
    if (warp == 0) {
        float mx = -INFINITY;
        for (int64_t s = lane; s < splits; s += 32) mx = fmaxf(mx, pm[s]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int64_t s = lane; s < splits; s += 32) {
            const float w = rescale(pm[s], mx);
            weight[s] = w;
            sum += pl[s] * w;
        }
        sum = warp_sum(sum);
        if (lane == 0) inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    }
    __syncthreads();
    float acc[kSlices];
#pragma unroll
    for (int i = 0; i < kSlices; ++i) acc[i] = 0.0f;
    for (int64_t s = warp; s < splits; s += kWarpsC) {
        const float w = weight[s];
        if (w == 0.0f) continue;
        const float* po = part_o + (row * splits + s) * hs;
#pragma unroll
        for (int i = 0; i < kSlices; ++i) {
            const int64_t d = lane + 32 * i;
            if (d < hs) acc[i] = fmaf(po[d], w, acc[i]);
        }
    }
#pragma unroll
    for (int i = 0; i < kSlices; ++i)
        if (lane + 32 * i < hs) warp_o[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    for (int64_t d = threadIdx.x; d < hs; d += kCombineThreads) {
        float o = 0.0f;
        for (int w = 0; w < kWarpsC; ++w) o += warp_o[w][d];
        out[row * hs + d] = o * inv;
    }
}

int head_class(int64_t hs) {
    if (hs <= 64) return 64;
    if (hs <= 128) return 128;
    if (hs <= kMaxAttentionHeadSize) return 256;
    fail(ErrorCode::Unsupported, "[attention] cuda: head size ", hs, " > ", kMaxAttentionHeadSize);
}

// (splits, keys per split) for the decode path: enough blocks for ~4 waves of the card.
std::pair<int64_t, int64_t> decode_split(const AttentionArgs& a, int sms) {
    const int64_t rows = a.b_n * a.t_n * a.nh, s_n = std::max<int64_t>(a.s_n, 1);
    const int64_t want = (4 * static_cast<int64_t>(std::max(sms, 1)) + rows - 1) / rows;
    const int64_t max_splits = (s_n + kMinKeysPerSplit - 1) / kMinKeysPerSplit;
    const int64_t splits = std::clamp<int64_t>(want, 1, std::min(max_splits, kMaxSplits));
    const int64_t chunk = (s_n + splits - 1) / splits;
    return {(s_n + chunk - 1) / chunk, chunk};
}

template <int D>
void launch_prefill(const AttentionArgs& a, cudaStream_t stream) {
    const size_t smem = prefill_smem_bytes<D>();
    FERRIS_CUDA_CHECK(cudaFuncSetAttribute(
        prefill_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    const dim3 grid(static_cast<unsigned>((a.t_n + kBq - 1) / kBq), static_cast<unsigned>(a.nh),
                    static_cast<unsigned>(a.b_n));
    prefill_kernel<D><<<grid, kThreads, smem, stream>>>(a);
    FERRIS_CUDA_LAUNCH_CHECK("attention prefill_kernel");
}

template <typename T, int D>
void launch_decode(const AttentionArgs& a, int sms, float* scratch, cudaStream_t stream) {
    const auto [splits, chunk] = decode_split(a, sms);
    const int64_t rows = a.b_n * a.t_n * a.nh;
    float* part_m = scratch;
    float* part_l = part_m + rows * splits;
    float* part_o = part_l + rows * splits;
    launch_dependent("attention decode_kernel", decode_kernel<T, D>,
                     dim3(static_cast<unsigned>(rows), static_cast<unsigned>(splits)), kThreads, 0,
                     stream, a, chunk, part_m, part_l, part_o);
    if (splits == 1) return;
    launch_dependent("attention combine_kernel", combine_kernel, static_cast<unsigned>(rows),
                     kCombineThreads, 0, stream, static_cast<float*>(a.out), part_m, part_l, part_o,
                     splits, a.hs);
}

template <typename T>
void decode_for_type(const AttentionArgs& a, int sms, float* scratch, cudaStream_t stream) {
    switch (head_class(a.hs)) {
        case 64:
            return launch_decode<T, 64>(a, sms, scratch, stream);
        case 128:
            return launch_decode<T, 128>(a, sms, scratch, stream);
        default:
            return launch_decode<T, 256>(a, sms, scratch, stream);
    }
}

}  // namespace

size_t attention_scratch_floats(const AttentionArgs& a, int sms) {
    if (a.t_n > kDecodeMaxQueries) return 0;
    const auto [splits, chunk] = decode_split(a, sms);
    (void)chunk;
    if (splits == 1) return 0;
    const int64_t rows = a.b_n * a.t_n * a.nh;
    return static_cast<size_t>(rows * splits * (2 + a.hs));
}

void attention(const AttentionArgs& a, int sms, float* scratch, cudaStream_t stream) {
    if (a.b_n <= 0 || a.t_n <= 0 || a.nh <= 0 || a.hs <= 0) return;
    if (a.io_dtype != DType::F32)
        fail(ErrorCode::Unsupported,
             "[attention] cuda: half-precision q needs the tensor-core "
             "kernel (attention_tensor_cores); the backend converts first");
    if (a.t_n <= kDecodeMaxQueries) {
        switch (a.kv_dtype) {
            case DType::F32:
                return decode_for_type<float>(a, sms, scratch, stream);
            case DType::F16:
                return decode_for_type<__half>(a, sms, scratch, stream);
            default:
                return decode_for_type<__nv_bfloat16>(a, sms, scratch, stream);
        }
    }
    if (attention_tensor_cores(a, stream)) return;
    // Head size 32 (e5-small, MiniLM) gets its own prefill instance: padding it to 64 doubled the
    // work of the encoders' attention.
    if (a.hs <= 32) return launch_prefill<32>(a, stream);
    switch (head_class(a.hs)) {
        case 64:
            return launch_prefill<64>(a, stream);
        case 128:
            return launch_prefill<128>(a, stream);
        default:
            return launch_prefill<256>(a, stream);
    }
}

}  // namespace ferris::cuda
