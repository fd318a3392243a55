// Kernel lab: the decode GEMV variants at the Qwen2.5-0.5B shapes, each against the previous one
// and a plain streaming read (the bandwidth a kernel of that size can reach). Weights rotate over
// 24 layers (~715 MB + the 272 MB LM head), so L2 never holds them, as in a real decode step.
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude dev/gemv_lab.cu -o /tmp/gemv_lab &&
//   /tmp/gemv_lab
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cuda/gemv_kernel.cuh"
#include "gemv_lab_variants.cuh"
#include "lab_fill.cuh"

using namespace ferris::cuda;
using bf16 = __nv_bfloat16;

#define CK(x) FERRIS_CUDA_CHECK(x)

// The streaming-read bound: every block sums its grid-stride share of n 16-byte words.
__global__ void read_all(const uint4* p, size_t n, float* sink) {
    uint32_t acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const uint4 v = __ldg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) sink[0] = 1.0f;
}

bf16* alloc_w(size_t n, uint32_t seed) {
    bf16* p = nullptr;
    CK(cudaMalloc(&p, n * sizeof(bf16)));
    lab_fill<<<1024, 256>>>(p, n, seed, 0.0f, 0.05f);
    return p;
}
float* alloc_f(size_t n, uint32_t seed, float base, float scale) {
    float* p = nullptr;
    CK(cudaMalloc(&p, n * sizeof(float)));
    lab_fill<<<256, 256>>>(p, n, seed, base, scale);
    return p;
}

// The TMA-ring kernel (one row of x) with its plan.
GemvTmaPlan tma_plan(int64_t in, bool dual) {
    GemvTmaPlan plan;
    const int64_t per_row = in * 2 * (dual ? 2 : 1);
    int r = static_cast<int>(std::clamp<int64_t>(kTmaStageBytes / per_row, 1, 8));
    while (r & (r - 1)) r &= r - 1;  // a power of two
    plan.rows_per_stage = r;
    plan.team = kGemvBlock / r;
    plan.stage_bytes = r * per_row;
    plan.stages =
        static_cast<int>(std::clamp<int64_t>(kTmaRingBytes / plan.stage_bytes, 1, kTmaMaxStages));
    return plan;
}
template <GemvMode kMode>
void v2(GemvParams p, cudaStream_t s) {
    const auto kernel = gemv_tma_kernel<bf16, kMode>;
    const GemvTmaPlan plan = tma_plan(p.in, kMode == GemvMode::SwiGlu);
    const size_t smem = plan.stages * plan.stage_bytes + p.in * sizeof(float);
    CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    launch_dependent("gemv_tma", kernel, (unsigned)sm_count(), kGemvBlock, smem, s, p, plan);
}
int g_tma = 0;       // 1: TMA kernel for o, SwiGLU, down and the LM head
int g_grid_cap = 0;  // blocks an SM at most (0: one full wave)
// The new kernel with the threads an item given (0: gemv.cu's choice).
template <GemvMode kMode>
void v1(GemvParams p, int lanes, cudaStream_t s) {
    const auto kernel = gemv_kernel<bf16, 1, kMode>;
    const size_t smem = gemv_stages_x(p.norm_weight != nullptr, p.in) ? p.in * sizeof(float) : 0;
    if (smem > 48 * 1024)
        CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    p.team = lanes ? lanes : gemv_team_for(p.in);
    const int64_t per_block = kGemvBlock / p.team;
    const int64_t wanted = (p.items + per_block - 1) / per_block;
    const int64_t wave =
        (int64_t)sm_count() * (g_grid_cap
                                   ? std::min(g_grid_cap, resident_blocks(kernel, kGemvBlock, smem))
                                   : resident_blocks(kernel, kGemvBlock, smem));
    launch_dependent("gemv", kernel, (unsigned)std::max<int64_t>(1, std::min(wanted, wave)),
                     kGemvBlock, smem, s, p);
}

constexpr int L = 24;
constexpr int64_t C = 896, I = 4864, NH = 14, NKV = 2, HS = 64, QKV = (NH + 2 * NKV) * HS,
                  V = 151936, S = 2048;

struct Model {
    bf16 *qkv[L], *o[L], *gate[L], *up[L], *down[L], *lm;
    float *n1[L], *n2[L], *bqkv[L], *nf;
    bf16 *kc[L], *vc[L];
};

struct Buffers {
    float *x, *h, *q, *qkv, *logits, *invf;
    int32_t* pos;
};

struct Prod {
    GemvMode mode;
    GemvParams p;
    int64_t bytes[2];
};

// A step's products in order (new kernels): q/k/v + rope, o (+= x), SwiGLU, down (+= x), per layer.
std::vector<Prod> products(const Model& m, const Buffers& b) {
    std::vector<Prod> v;
    for (int l = 0; l < L; ++l) {
        GemvParams p;
        p.x = b.x, p.w = m.qkv[l], p.bias = m.bqkv[l], p.in = C, p.items = QKV / 2,
        p.norm_weight = m.n1[l], p.eps = 1e-6f;
        p.rope.q_out = b.q, p.rope.k_cache = m.kc[l], p.rope.v_cache = m.vc[l],
        p.rope.cache_dtype = ferris::DType::BF16;
        p.rope.k_seq = p.rope.v_seq = NKV * HS, p.rope.positions = b.pos, p.rope.inv_freq = b.invf;
        p.rope.nh = NH, p.rope.nkv = NKV, p.rope.hs = HS;
        v.push_back({GemvMode::QkvRope, p, {QKV * C * 2, 0}});
        GemvParams o;
        o.out = b.x, o.x = b.q, o.w = m.o[l], o.in = C, o.items = C;
        v.push_back({GemvMode::Accumulate, o, {C * C * 2, 0}});
        GemvParams g;
        g.out = b.h, g.x = b.x, g.w = m.gate[l], g.w2 = m.up[l], g.in = C, g.items = I,
        g.norm_weight = m.n2[l], g.eps = 1e-6f;
        v.push_back({GemvMode::SwiGlu, g, {I * C * 2, I * C * 2}});
        GemvParams d;
        d.out = b.x, d.x = b.h, d.w = m.down[l], d.in = I, d.items = C;
        v.push_back({GemvMode::Accumulate, d, {C * I * 2, 0}});
    }
    GemvParams p;
    p.out = b.logits, p.x = b.x, p.w = m.lm, p.in = C, p.items = V, p.norm_weight = m.nf,
    p.eps = 1e-6f;
    v.push_back({GemvMode::Plain, p, {V * C * 2, 0}});
    return v;
}

// One decode step's products: version 0 (old kernels; q/k/v product without rope) or 1 (new,
// with `team` threads an item for the 896-column products, and each product prefetching the
// weights `dist` products ahead into L2, at most cap_mb MB).
void step(const Model& m, const Buffers& b, int version, int lanes, cudaStream_t s, int dist = 0,
          int cap_mb = 24, int down_team = 0) {
    if (version == 0) {
        for (int l = 0; l < L; ++l) {
            v0::launch_gemv<bf16, 0>(b.qkv, b.x, m.qkv[l], nullptr, m.bqkv[l], 1, C, QKV,
                                     v0::GemvNorm{m.n1[l], 1e-6f}, s);
            v0::launch_gemv<bf16, 1>(b.x, b.q, m.o[l], nullptr, nullptr, 1, C, C, v0::GemvNorm{},
                                     s);
            v0::launch_gemv<bf16, 2>(b.h, b.x, m.gate[l], m.up[l], nullptr, 1, C, I,
                                     v0::GemvNorm{m.n2[l], 1e-6f}, s);
            v0::launch_gemv<bf16, 1>(b.x, b.h, m.down[l], nullptr, nullptr, 1, I, C, v0::GemvNorm{},
                                     s);
        }
        v0::launch_gemv<bf16, 0>(b.logits, b.x, m.lm, nullptr, nullptr, 1, C, V,
                                 v0::GemvNorm{m.nf, 1e-6f}, s);
        return;
    }
    const std::vector<Prod> v = products(m, b);
    for (size_t i = 0; i < v.size(); ++i) {
        GemvParams p = v[i].p;
        if (dist > 0 && i + dist < v.size()) {
            const Prod& nx = v[i + dist];
            int64_t budget = (int64_t)cap_mb << 20;
            p.prefetch.ptr[0] = nx.p.w, p.prefetch.bytes[0] = std::min(nx.bytes[0], budget);
            budget -= p.prefetch.bytes[0];
            if (nx.bytes[1] > 0 && budget > 0)
                p.prefetch.ptr[1] = nx.p.w2, p.prefetch.bytes[1] = std::min(nx.bytes[1], budget);
        }
        const int team = p.in == I ? down_team : lanes;
        if (g_tma && v[i].mode != GemvMode::QkvRope) {
            if (v[i].mode == GemvMode::SwiGlu)
                v2<GemvMode::SwiGlu>(p, s);
            else if (v[i].mode == GemvMode::Accumulate)
                v2<GemvMode::Accumulate>(p, s);
            else
                v2<GemvMode::Plain>(p, s);
            continue;
        }
        switch (v[i].mode) {
            case GemvMode::QkvRope:
                v1<GemvMode::QkvRope>(p, team, s);
                break;
            case GemvMode::Accumulate:
                v1<GemvMode::Accumulate>(p, team, s);
                break;
            case GemvMode::SwiGlu:
                v1<GemvMode::SwiGlu>(p, team, s);
                break;
            default:
                v1<GemvMode::Plain>(p, team, s);
                break;
        }
    }
}

template <typename F>
float time_us(F&& f, int reps, cudaStream_t s) {
    cudaEvent_t a, z;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&z));
    for (int i = 0; i < 3; ++i) f();
    CK(cudaStreamSynchronize(s));
    std::vector<float> t;
    for (int r = 0; r < 7; ++r) {
        CK(cudaEventRecord(a, s));
        for (int i = 0; i < reps; ++i) f();
        CK(cudaEventRecord(z, s));
        CK(cudaEventSynchronize(z));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a, z));
        t.push_back(ms * 1000.0f / reps);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main() {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    Model m;
    for (int l = 0; l < L; ++l) {
        m.qkv[l] = alloc_w(QKV * C, 11 + l);
        m.o[l] = alloc_w(C * C, 101 + l);
        m.gate[l] = alloc_w(I * C, 201 + l);
        m.up[l] = alloc_w(I * C, 301 + l);
        m.down[l] = alloc_w(C * I, 401 + l);
        m.n1[l] = alloc_f(C, 501 + l, 1.0f, 0.2f);
        m.n2[l] = alloc_f(C, 601 + l, 1.0f, 0.2f);
        m.bqkv[l] = alloc_f(QKV, 701 + l, 0.0f, 0.1f);
        m.kc[l] = alloc_w(S * NKV * HS, 801 + l);
        m.vc[l] = alloc_w(S * NKV * HS, 901 + l);
    }
    m.lm = alloc_w(V * C, 7);
    m.nf = alloc_f(C, 8, 1.0f, 0.2f);
    Buffers b;
    b.x = alloc_f(C, 1, 0.0f, 1.0f);
    b.h = alloc_f(I, 2, 0.0f, 1.0f);
    b.q = alloc_f(C, 3, 0.0f, 1.0f);
    b.qkv = alloc_f(QKV, 4, 0, 0);
    b.logits = alloc_f(V, 5, 0, 0);
    std::vector<float> invf(HS / 2);
    for (int i = 0; i < HS / 2; ++i) invf[i] = 1.0f / powf(1e6f, 2.0f * i / HS);
    CK(cudaMalloc(&b.invf, invf.size() * 4));
    CK(cudaMemcpy(b.invf, invf.data(), invf.size() * 4, cudaMemcpyHostToDevice));
    int32_t pos = 17;
    CK(cudaMalloc(&b.pos, 4));
    CK(cudaMemcpy(b.pos, &pos, 4, cudaMemcpyHostToDevice));
    float* sink = alloc_f(1, 9, 0, 0);
    CK(cudaDeviceSynchronize());
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs\n", prop.name, prop.multiProcessorCount);

    // --- correctness: new vs old on one layer (q/k/v: the old plain product + host-side check of
    // rope skipped; o, swiglu, down, lm_head)
    auto compare = [&](const char* what, float* ref, float* got, int64_t n) {
        std::vector<float> a(n), g(n);
        CK(cudaMemcpy(a.data(), ref, n * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(g.data(), got, n * 4, cudaMemcpyDeviceToHost));
        double md = 0, mx = 0;
        for (int64_t i = 0; i < n; ++i) {
            md = std::max(md, (double)fabsf(a[i] - g[i]));
            mx = std::max(mx, (double)fabsf(a[i]));
        }
        printf("check %-8s max |new - old| %.3g (max |old| %.3g)\n", what, md, mx);
    };
    float *r1 = alloc_f(V, 0, 0, 0), *r2 = alloc_f(V, 0, 0, 0);
    {
        v0::launch_gemv<bf16, 2>(r1, b.x, m.gate[0], m.up[0], nullptr, 1, C, I,
                                 v0::GemvNorm{m.n2[0], 1e-6f}, s);
        GemvParams g;
        g.out = r2, g.x = b.x, g.w = m.gate[0], g.w2 = m.up[0], g.in = C, g.items = I,
        g.norm_weight = m.n2[0], g.eps = 1e-6f;
        v1<GemvMode::SwiGlu>(g, 0, s);
        CK(cudaStreamSynchronize(s));
        compare("swiglu", r1, r2, I);
        CK(cudaMemset(r2, 0xff, I * 4));
        v2<GemvMode::SwiGlu>(g, s);
        CK(cudaStreamSynchronize(s));
        compare("swiglu TMA", r1, r2, I);
        v0::launch_gemv<bf16, 0>(r1, b.h, m.down[0], nullptr, nullptr, 1, I, C, v0::GemvNorm{}, s);
        GemvParams d;
        d.out = r2, d.x = b.h, d.w = m.down[0], d.in = I, d.items = C;
        v1<GemvMode::Plain>(d, 0, s);
        CK(cudaStreamSynchronize(s));
        compare("down", r1, r2, C);
        CK(cudaMemset(r2, 0xff, C * 4));
        v2<GemvMode::Plain>(d, s);
        CK(cudaStreamSynchronize(s));
        compare("down TMA", r1, r2, C);
        v0::launch_gemv<bf16, 0>(r1, b.x, m.lm, nullptr, nullptr, 1, C, V,
                                 v0::GemvNorm{m.nf, 1e-6f}, s);
        GemvParams p;
        p.out = r2, p.x = b.x, p.w = m.lm, p.in = C, p.items = V, p.norm_weight = m.nf,
        p.eps = 1e-6f;
        v1<GemvMode::Plain>(p, 0, s);
        CK(cudaStreamSynchronize(s));
        compare("lm_head", r1, r2, V);
        CK(cudaMemset(r2, 0xff, V * 4));
        v2<GemvMode::Plain>(p, s);
        CK(cudaStreamSynchronize(s));
        compare("lm_head TMA", r1, r2, V);
        // one product alone, each kind, TMA vs register kernel (rotating layers)
        int li = 0;
        const float t_sw = time_us(
            [&] {
                const int l = li++ % L;
                GemvParams q = g;
                q.w = m.gate[l], q.w2 = m.up[l], q.out = b.h;
                v2<GemvMode::SwiGlu>(q, s);
            },
            48, s);
        const float t_dn = time_us(
            [&] {
                const int l = li++ % L;
                GemvParams q = d;
                q.w = m.down[l], q.out = b.x;
                v2<GemvMode::Accumulate>(q, s);
            },
            48, s);
        const float t_o = time_us(
            [&] {
                const int l = li++ % L;
                GemvParams q;
                q.out = b.x, q.x = b.q, q.w = m.o[l], q.in = C, q.items = C;
                v2<GemvMode::Accumulate>(q, s);
            },
            48, s);
        const float t_lm = time_us(
            [&] {
                GemvParams q = p;
                q.out = b.logits;
                v2<GemvMode::Plain>(q, s);
            },
            10, s);
        printf("TMA alone: swiglu %.2f us, down %.2f us, o %.2f us, lm_head %.2f us (%.0f GB/s)\n",
               t_sw, t_dn, t_o, t_lm, V * C * 2 / t_lm / 1e3);
        v0::launch_gemv<bf16, 0>(r1, b.x, m.qkv[0], nullptr, m.bqkv[0], 1, C, QKV,
                                 v0::GemvNorm{m.n1[0], 1e-6f}, s);
        GemvParams q;
        q.out = r2, q.x = b.x, q.w = m.qkv[0], q.bias = m.bqkv[0], q.in = C, q.items = QKV,
        q.norm_weight = m.n1[0], q.eps = 1e-6f;
        v1<GemvMode::Plain>(q, 0, s);
        CK(cudaStreamSynchronize(s));
        compare("qkv", r1, r2, QKV);
    }

    // --- the streaming-read bound at each product's size (rotating over 24 buffers)
    struct Kind {
        const char* name;
        int64_t rows, in;
        int dual;
    };
    const Kind kinds[] = {
        {"qkv", QKV, C, 0}, {"o", C, C, 0}, {"swiglu", I, C, 1}, {"down", C, I, 0}};
    printf("\n%-8s %9s | %-22s | %-22s | %-22s | %-22s | %-22s\n", "product", "MB", "read bound",
           "old", "new team 8 (down 64)", "new 16 (down 128)", "new 32 (down 256)");
    for (const Kind& k : kinds) {
        const double bytes = (double)k.rows * k.in * 2 * (k.dual ? 2 : 1);
        int li = 0;
        const float t_read = time_us(
            [&] {
                const int l = li++ % L;
                const bf16* w = k.dual
                                    ? m.gate[l]
                                    : (k.in == I ? m.down[l] : (k.rows == QKV ? m.qkv[l] : m.o[l]));
                read_all<<<prop.multiProcessorCount * 8, 256, 0, s>>>(
                    (const uint4*)w, (size_t)(k.rows * k.in / 8), sink);
                if (k.dual)
                    read_all<<<prop.multiProcessorCount * 8, 256, 0, s>>>(
                        (const uint4*)m.up[l], (size_t)(k.rows * k.in / 8), sink);
            },
            48, s);
        float t[4];
        for (int v = 0; v < 4; ++v) {
            const int lanes = k.in == I ? (v == 1   ? 64
                                           : v == 2 ? 128
                                                    : 256)
                                        : (v == 1   ? 8
                                           : v == 2 ? 16
                                                    : 32);
            t[v] = time_us(
                [&] {
                    const int l = li++ % L;
                    if (k.dual) {
                        if (v == 0)
                            v0::launch_gemv<bf16, 2>(b.h, b.x, m.gate[l], m.up[l], nullptr, 1, C, I,
                                                     v0::GemvNorm{m.n2[l], 1e-6f}, s);
                        else {
                            GemvParams g;
                            g.out = b.h, g.x = b.x, g.w = m.gate[l], g.w2 = m.up[l], g.in = C,
                            g.items = I, g.norm_weight = m.n2[l], g.eps = 1e-6f;
                            v1<GemvMode::SwiGlu>(g, lanes, s);
                        }
                    } else {
                        const bf16* w = k.in == I ? m.down[l] : (k.rows == QKV ? m.qkv[l] : m.o[l]);
                        float* out = k.rows == QKV ? b.qkv : b.x;
                        const float* x = k.in == I ? b.h : b.q;
                        if (v == 0)
                            v0::launch_gemv<bf16, 1>(out, x, w, nullptr, nullptr, 1, k.in, k.rows,
                                                     v0::GemvNorm{}, s);
                        else {
                            GemvParams p;
                            p.out = out, p.x = x, p.w = w, p.in = k.in, p.items = k.rows;
                            v1<GemvMode::Accumulate>(p, lanes, s);
                        }
                    }
                },
                48, s);
        }
        auto cell = [&](float us) {
            static char buf[64];
            snprintf(buf, sizeof buf, "%6.2f us %5.0f GB/s", us, bytes / us / 1e3);
            return std::string(buf);
        };
        printf("%-8s %9.2f | %-22s | %-22s | %-22s | %-22s | %-22s\n", k.name, bytes / 1e6,
               cell(t_read).c_str(), cell(t[0]).c_str(), cell(t[1]).c_str(), cell(t[2]).c_str(),
               cell(t[3]).c_str());
    }
    {
        const double bytes = (double)V * C * 2;
        const float t_read = time_us(
            [&] {
                read_all<<<prop.multiProcessorCount * 8, 256, 0, s>>>((const uint4*)m.lm,
                                                                      (size_t)(V * C / 8), sink);
            },
            10, s);
        const float t0 = time_us(
            [&] {
                v0::launch_gemv<bf16, 0>(b.logits, b.x, m.lm, nullptr, nullptr, 1, C, V,
                                         v0::GemvNorm{m.nf, 1e-6f}, s);
            },
            10, s);
        float t1[3];
        for (int v = 0; v < 3; ++v)
            t1[v] = time_us(
                [&] {
                    GemvParams p;
                    p.out = b.logits, p.x = b.x, p.w = m.lm, p.in = C, p.items = V,
                    p.norm_weight = m.nf, p.eps = 1e-6f;
                    v1<GemvMode::Plain>(p, v == 0 ? 8 : v == 1 ? 16 : 32, s);
                },
                10, s);
        printf(
            "%-8s %9.2f | %6.2f us %5.0f GB/s | %6.2f us %5.0f GB/s | %6.2f us %5.0f GB/s | %6.2f "
            "us %5.0f GB/s | %6.2f us %5.0f GB/s\n",
            "lm_head", bytes / 1e6, t_read, bytes / t_read / 1e3, t0, bytes / t0 / 1e3, t1[0],
            bytes / t1[0] / 1e3, t1[1], bytes / t1[1] / 1e3, t1[2], bytes / t1[2] / 1e3);
    }

    // --- a whole step's products captured as a graph (as Backend::record does), replayed
    printf("\nall products of a step (24 layers + LM head) as one CUDA graph, replayed:\n");
    struct Variant {
        const char* name;
        int version, team, dist, cap, down_team, grid_cap;
    };
    const Variant variants[] = {
        {"old kernels", 0, 0, 0, 0, 0, 0},
        {"new, teams by gemv.cu", 1, 0, 0, 0, 0, 0},
        {"TMA ring (o, SwiGLU, down, LM head)", 2, 0, 0, 0, 0, 0},
    };
    for (const Variant& v : variants) {
        g_grid_cap = v.grid_cap;
        g_tma = v.version == 2;
        cudaGraph_t g;
        cudaGraphExec_t ge;
        CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        step(m, b, v.version == 2 ? 1 : v.version, v.team, s, v.dist, v.cap, v.down_team);
        CK(cudaStreamEndCapture(s, &g));
        CK(cudaGraphInstantiate(&ge, g, 0));
        const float us = time_us([&] { CK(cudaGraphLaunch(ge, s)); }, 20, s);
        printf("  %-32s %8.1f us a step  (%5.0f GB/s over the 988 MB)\n", v.name, us,
               988e6 / us / 1e3);
        CK(cudaGraphExecDestroy(ge));
        CK(cudaGraphDestroy(g));
    }
    return 0;
}
