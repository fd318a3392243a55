// Check of the persistent decode kernel's tensor-core attention (decode_attention_mma.cuh) alone:
// one launch of a block per (kv head, split) over random bf16 caches and f32 q, the partials
// combined on the host (one split: the output the kernel wrote), against attention in double
// precision. q and the new key's row come as the q/k/v phase hands them over, and the outputs or
// partials go out the same way (decode_handoff.cuh): a value whose word lacks the flag counts as
// NaN. The cache's copy of the new row holds NaN, which must never be read. Prints the largest
// error a head for each key count and split count, and fails (exit 1) past 1e-5 relative (H100:
// 1e-6 to 3e-6 over 13,000 keys, the sums in f32).
//   nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -Iinclude dev/decode_attention_check.cu \
//        -o /tmp/attn_check && /tmp/attn_check
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "../src/backends/cuda/check.h"
#include "../src/backends/cuda/decode_attention_mma.cuh"

using namespace ferris;
using namespace ferris::cuda;
using namespace ferris::cuda::decode;

namespace {

constexpr int D = 64;
constexpr int64_t kCap = mma_stage_keys(D, kKvStageBudget);

__global__ void __launch_bounds__(kThreads, 1)
    check_kernel(const __grid_constant__ DecodeLayersArgs a, DecodeLayerPointers L, HandOff ho,
                 int splits, int64_t keys, int64_t position) {
    extern __shared__ __align__(16) unsigned char smem[];
    char* qs = reinterpret_cast<char*>(smem);
    char* stage = qs + mma_q_bytes(D);
    attention_prefetch_mma<D>(a, L, splits, keys, position, stage, kCap);
    __syncthreads();
    attention_phase_mma<__nv_bfloat16, D>(a, L, ho, splits, keys, position, stage, kCap, qs, 0,
                                          static_cast<int>(gridDim.x));
}

float bf16_round(float v) { return __bfloat162float(__float2bfloat16(v)); }

}  // namespace

int main() {
    const int64_t nh = 14, nkv = 2, group = nh / nkv, S = 13100;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> k(S * nkv * D), v(S * nkv * D), q(nh * D);
    for (auto& x : k) x = bf16_round(u(rng));
    for (auto& x : v) x = bf16_round(u(rng));
    for (auto& x : q) x = u(rng);
    std::vector<__nv_bfloat16> kb(k.size()), vb(v.size());
    for (size_t i = 0; i < k.size(); ++i)
        kb[i] = __float2bfloat16(k[i]), vb[i] = __float2bfloat16(v[i]);
    void *dk, *dv;
    FERRIS_CUDA_CHECK(cudaMalloc(&dk, kb.size() * 2));
    FERRIS_CUDA_CHECK(cudaMalloc(&dv, vb.size() * 2));
    FERRIS_CUDA_CHECK(cudaMemcpy(dk, kb.data(), kb.size() * 2, cudaMemcpyHostToDevice));
    FERRIS_CUDA_CHECK(cudaMemcpy(dv, vb.data(), vb.size() * 2, cudaMemcpyHostToDevice));
    DecodeLayersArgs a;
    a.nh = nh, a.nkv = nkv, a.hs = D, a.k_seq = nkv * D, a.v_seq = nkv * D;
    a.cache_dtype = DType::BF16;
    a.scale = 0.125f;
    DecodeLayerPointers L = {};
    L.k_cache = dk, L.v_cache = dv;
    // The hand-off's words (laid out as handoff_at lays them): q and the new key's row in, the
    // outputs or partials out.
    constexpr unsigned kFlag = 77;
    auto word = [](float x) {
        return (static_cast<unsigned long long>(kFlag) << 32) | std::bit_cast<uint32_t>(x);
    };
    auto value = [](unsigned long long w) {  // NaN unless the word carries the flag
        return (w >> 32) == kFlag ? std::bit_cast<float>(static_cast<uint32_t>(w)) : NAN;
    };
    std::vector<unsigned long long> words(handoff_words(nh, nkv, D));
    HandOffWord* dwords;
    FERRIS_CUDA_CHECK(cudaMalloc(&dwords, words.size() * 8));
    const int64_t at_k = nh * D, at_v = at_k + nkv * D, at_att = at_v + nkv * D;
    const int64_t at_ml = at_att + nh * D, at_o = at_ml + nh * kHandOffSplits * 2;
    const HandOff ho{dwords,         dwords + at_k, dwords + at_v, dwords + at_att,
                     dwords + at_ml, dwords + at_o, kFlag};
    const std::vector<__nv_bfloat16> nan_row(nkv * D, __float2bfloat16(NAN));
    const size_t smem = mma_q_bytes(D) + kKvStageBudget;
    FERRIS_CUDA_CHECK(cudaFuncSetAttribute(
        check_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    bool ok = true;
    for (const int64_t keys : {1, 2, 16, 17, 37, 200, 2100, 13000}) {
        for (const int splits : {1, 3, 16, 32}) {
            if (keys / splits < 1) continue;
            const int blocks = static_cast<int>(nkv * splits);
            const int64_t row = (keys - 1) * nkv * D;  // the new key's, handed over
            std::fill(words.begin(), words.end(), 0ull);
            for (int64_t i = 0; i < nh * D; ++i) words[i] = word(q[i]);
            for (int64_t i = 0; i < nkv * D; ++i) {
                words[at_k + i] = word(k[row + i]);
                words[at_v + i] = word(v[row + i]);
            }
            FERRIS_CUDA_CHECK(
                cudaMemcpy(dwords, words.data(), words.size() * 8, cudaMemcpyHostToDevice));
            for (void* cache : {dk, dv})
                FERRIS_CUDA_CHECK(cudaMemcpy(static_cast<__nv_bfloat16*>(cache) + row,
                                             nan_row.data(), nkv * D * 2, cudaMemcpyHostToDevice));
            check_kernel<<<blocks, kThreads, smem>>>(a, L, ho, splits, keys, keys - 1);
            FERRIS_CUDA_CHECK(cudaDeviceSynchronize());
            FERRIS_CUDA_CHECK(cudaMemcpy(static_cast<__nv_bfloat16*>(dk) + row, kb.data() + row,
                                         nkv * D * 2, cudaMemcpyHostToDevice));
            FERRIS_CUDA_CHECK(cudaMemcpy(static_cast<__nv_bfloat16*>(dv) + row, vb.data() + row,
                                         nkv * D * 2, cudaMemcpyHostToDevice));
            FERRIS_CUDA_CHECK(
                cudaMemcpy(words.data(), dwords, words.size() * 8, cudaMemcpyDeviceToHost));
            std::vector<float> att(nh * D), ml(nh * kHandOffSplits * 2),
                po(nh * kHandOffSplits * D);
            for (size_t i = 0; i < att.size(); ++i) att[i] = value(words[at_att + i]);
            for (size_t i = 0; i < ml.size(); ++i) ml[i] = value(words[at_ml + i]);
            for (size_t i = 0; i < po.size(); ++i) po[i] = value(words[at_o + i]);
            double worst = 0;
            for (int64_t h = 0; h < nh; ++h) {
                const int64_t kvh = h / group;
                std::vector<double> sc(keys), out(D, 0.0);
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j < keys; ++j) {
                    double d = 0;
                    for (int i = 0; i < D; ++i)
                        d += double(q[h * D + i]) * k[(j * nkv + kvh) * D + i];
                    sc[j] = d * 0.125;
                    mx = std::max(mx, sc[j]);
                }
                for (int64_t j = 0; j < keys; ++j) {
                    const double p = std::exp(sc[j] - mx);
                    sum += p;
                    for (int i = 0; i < D; ++i) out[i] += p * v[(j * nkv + kvh) * D + i];
                }
                double gm = -1e300;
                for (int sp = 0; sp < splits; ++sp)
                    gm = std::max(gm, double(ml[(h * kHandOffSplits + sp) * 2]));
                double gs = 0;
                std::vector<double> go(D, 0.0);
                for (int sp = 0; sp < splits; ++sp) {
                    const int64_t at = h * kHandOffSplits + sp;
                    const double f = std::exp(ml[at * 2] - gm);
                    gs += f * ml[at * 2 + 1];
                    for (int i = 0; i < D; ++i) go[i] += f * po[at * D + i];
                }
                double err = 0, mag = 0;
                for (int i = 0; i < D; ++i) {
                    // One split: the kernel wrote the output itself. A NaN (an output never
                    // written holds one) counts as an infinite error.
                    const double got = splits == 1 ? att[h * D + i] : go[i] / gs;
                    const double diff = std::abs(got - out[i] / sum);
                    err = std::isnan(diff) ? INFINITY : std::max(err, diff);
                    mag = std::max(mag, std::abs(out[i] / sum));
                }
                worst = std::max(worst, err / mag);
            }
            std::printf("keys %6lld splits %2d: worst relative error of a head's output %.3g\n",
                        static_cast<long long>(keys), splits, worst);
            if (!(worst < 1e-5)) ok = false;
        }
    }
    std::printf(ok ? "PASS\n" : "FAIL\n");
    return ok ? 0 : 1;
}
