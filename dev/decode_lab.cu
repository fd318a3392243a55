// Kernel lab for the persistent decode kernel (src/backends/cuda/decode_layers.cu): the 24 layers
// of Qwen2.5-0.5B (random bf16 weights, bf16 cache) in one launch, timed alone (median of
// launches), then one profiled launch: for each phase of layers 1-2, how long the slowest block
// took after the previous barrier let it go, how early the fastest one arrived, and how long the
// barrier itself took once the last block arrived (globaltimer, ns).
//   nvcc -O3 -std=c++20 -arch=sm_90 -DFERRIS_DECODE_PROFILE -Isrc -Iinclude dev/decode_lab.cu \
//        -o /tmp/decode_lab && /tmp/decode_lab [keys]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../src/backends/cuda/decode_layers.cu"

using namespace ferris;
using namespace ferris::cuda;

namespace {

void* device_random(size_t elems, DType dt, unsigned seed, float scale) {
    std::vector<uint16_t> bits(elems);
    std::vector<float> f32(elems);
    srand(seed);
    for (size_t i = 0; i < elems; ++i) {
        const float v = scale * (2.0f * rand() / RAND_MAX - 1.0f);
        f32[i] = v;
        const __nv_bfloat16 b = __float2bfloat16(v);
        bits[i] = *reinterpret_cast<const uint16_t*>(&b);
    }
    void* p = nullptr;
    const size_t bytes = elems * (dt == DType::F32 ? 4 : 2);
    FERRIS_CUDA_CHECK(cudaMalloc(&p, bytes));
    FERRIS_CUDA_CHECK(cudaMemcpy(p,
                                 dt == DType::F32 ? static_cast<const void*>(f32.data())
                                                  : static_cast<const void*>(bits.data()),
                                 bytes, cudaMemcpyHostToDevice));
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    // decode_lab KEYS[,KEYS...] [VARIANT...]: every key count with every variant, a variant being
    // "prefetch blocks,MB ahead[,1 with a greedy step's head]" (DecodeLayersArgs; default "-1", the
    // kernel's default). The profile is of the last run.
    std::vector<int> key_counts;
    for (const char* k = argc > 1 ? argv[1] : "64"; *k;) {
        key_counts.push_back(atoi(k));
        while (*k && *k != ',') ++k;
        if (*k == ',') ++k;
    }
    std::vector<std::string> variants;
    for (int i = 2; i < argc; ++i) variants.push_back(argv[i]);
    if (variants.empty()) variants.push_back("-1");
    int keys = key_counts[0];
    int prefetch_blocks = -1;
    const int64_t C = 896, I = 4864, NH = 14, NKV = 2, HS = 64, L = 24, S = 4096;
    DecodeLayersArgs a;
    a.n_layers = L;
    a.weight_dtype = DType::BF16;
    a.cache_dtype = DType::BF16;
    a.c = C, a.inter = I, a.nh = NH, a.nkv = NKV, a.hs = HS;
    a.k_seq = NKV * HS, a.v_seq = NKV * HS;
    a.eps = 1e-6f, a.scale = 0.125f;
    const int64_t Q = (NH + 2 * NKV) * HS;
    for (int l = 0; l < L; ++l) {
        DecodeLayerPointers& p = a.layers[l];
        p.attn_norm = static_cast<const float*>(device_random(C, DType::F32, 10 * l + 1, 1.0f));
        p.qkv = device_random(Q * C, DType::BF16, 10 * l + 2, 0.05f);
        p.qkv_bias = static_cast<const float*>(device_random(Q, DType::F32, 10 * l + 3, 0.1f));
        p.o = device_random(C * NH * HS, DType::BF16, 10 * l + 4, 0.05f);
        p.mlp_norm = static_cast<const float*>(device_random(C, DType::F32, 10 * l + 5, 1.0f));
        p.gate = device_random(I * C, DType::BF16, 10 * l + 6, 0.05f);
        p.up = device_random(I * C, DType::BF16, 10 * l + 7, 0.05f);
        p.down = device_random(C * I, DType::BF16, 10 * l + 8, 0.03f);
        p.k_cache = device_random(S * NKV * HS, DType::BF16, 10 * l + 9, 1.0f);
        p.v_cache = device_random(S * NKV * HS, DType::BF16, 10 * l + 10, 1.0f);
    }
    a.x = static_cast<float*>(device_random(C, DType::F32, 7, 1.0f));
    const int32_t where[2] = {keys - 1, keys};
    int32_t* dw = nullptr;
    FERRIS_CUDA_CHECK(cudaMalloc(&dw, 8));
    FERRIS_CUDA_CHECK(cudaMemcpy(dw, where, 8, cudaMemcpyHostToDevice));
    a.position = dw, a.keys = dw + 1;
    a.inv_freq = static_cast<const float*>(device_random(HS / 2, DType::F32, 3, 0.5f));
    FERRIS_CUDA_CHECK(cudaMalloc(&a.scratch, decode_layers_scratch_floats(a) * 4));
    if (!decode_layers_applies(a)) {
        std::printf("the kernel does not apply\n");
        return 1;
    }
    // A greedy step's head (variants with ",1" at the end): tied embedding / LM head of the 0.5B
    // vocabulary, the final norm, the token and the logits.
    const int64_t V = 151936;
    const void* head_table = device_random(V * C, DType::BF16, 11, 0.05f);
    const float* head_norm = static_cast<const float*>(device_random(C, DType::F32, 12, 1.0f));
    int32_t* head_token = nullptr;
    float* head_logits = nullptr;
    FERRIS_CUDA_CHECK(cudaMalloc(&head_token, 4));
    FERRIS_CUDA_CHECK(cudaMemset(head_token, 0, 4));
    FERRIS_CUDA_CHECK(cudaMalloc(&head_logits, V * 4));
    cudaStream_t stream;
    FERRIS_CUDA_CHECK(cudaStreamCreate(&stream));
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    for (const int k : key_counts) {
        keys = k;
        const int32_t at[2] = {keys - 1, keys};
        FERRIS_CUDA_CHECK(cudaMemcpy(dw, at, 8, cudaMemcpyHostToDevice));
        for (const std::string& v : variants) {
            long long ahead_mb = 32;
            int head = 0, clean = 0;
            prefetch_blocks = -1;
            std::sscanf(v.c_str(), "%d,%lld,%d,%d", &prefetch_blocks, &ahead_mb, &head, &clean);
            a.prefetch_blocks = prefetch_blocks;
            a.prefetch_ahead = static_cast<int64_t>(ahead_mb) << 20;
            a.token = head ? head_token : nullptr;
            a.embed = a.lm_head = head_table;
            a.embed_rows = a.vocab = V;
            a.final_norm = head_norm;
            a.logits = head_logits;
            std::vector<float> ms;
            a.scratch_clean = false;
            for (int r = 0; r < 60; ++r) {
                a.scratch_clean = clean && r > 0;  // ",1" at the end: no memset after the first
                cudaEventRecord(t0, stream);
                decode_layers(a, stream);
                cudaEventRecord(t1, stream);
                FERRIS_CUDA_CHECK(cudaEventSynchronize(t1));
                float m = 0;
                cudaEventElapsedTime(&m, t0, t1);
                if (r >= 10) ms.push_back(m);
            }
            std::sort(ms.begin(), ms.end());
            // Back to back, as decode replays them: 30 launches between two events.
            cudaEventRecord(t0, stream);
            for (int r = 0; r < 30; ++r) decode_layers(a, stream);
            cudaEventRecord(t1, stream);
            FERRIS_CUDA_CHECK(cudaEventSynchronize(t1));
            float chain = 0;
            cudaEventElapsedTime(&chain, t0, t1);
            std::printf(
                "keys %4d, prefetch blocks %3d, %3lld MB ahead%s%s: 24 layers in %7.1f us (median "
                "of %zu; min %.1f); back to back %.1f us a launch\n",
                keys, prefetch_blocks, ahead_mb, head ? ", + embedding, LM head, argmax" : "",
                clean ? ", no memset" : "", 1000 * ms[ms.size() / 2], ms.size(), 1000 * ms.front(),
                1000 * chain / 30);
        }
    }

#ifdef FERRIS_DECODE_PROFILE
    unsigned long long arrive[64][256], leave[64];
    FERRIS_CUDA_CHECK(cudaMemcpyFromSymbol(arrive, decode::g_arrive, sizeof(arrive)));
    FERRIS_CUDA_CHECK(cudaMemcpyFromSymbol(leave, decode::g_leave, sizeof(leave)));
    const int blocks = sm_count() - with_prefetch(a, sm_count()).prefetch_blocks;
    // Six phases a layer where the attention's splits are combined in a phase of their own.
    const int phases = key_splits(a, keys, layout_of(a, blocks).splits) > 1 ? 6 : 5;
    const char* names5[5] = {"qkv", "attention", "o", "gate/up", "down"};
    const char* names6[6] = {"qkv", "attention", "combine", "o", "gate/up", "down"};
    const char* const* names = phases == 6 ? names6 : names5;
    std::printf("%-10s %12s %12s %12s\n", "phase", "slowest ns", "fastest ns", "barrier ns");
    for (int k = phases; k < 3 * phases; ++k) {
        unsigned long long lo = ~0ull, hi = 0;
        for (int b = 0; b < blocks; ++b) {
            lo = std::min(lo, arrive[k][b]);
            hi = std::max(hi, arrive[k][b]);
        }
        std::printf("%-10s %12lld %12lld %12lld\n", names[k % phases],
                    static_cast<long long>(hi - leave[k - 1]),
                    static_cast<long long>(lo - leave[k - 1]),
                    static_cast<long long>(leave[k] - hi));
    }
    unsigned long long mark[64];
    FERRIS_CUDA_CHECK(cudaMemcpyFromSymbol(mark, decode::g_mark, sizeof(mark)));
    const char* points[14] = {"start",          "x staged",     "q/k/v done",   "barrier left",
                              "attention done", "barrier left", "a staged",     "o done",
                              "barrier left",   "x staged",     "gate/up done", "barrier left",
                              "h staged",       "down done"};
    std::printf("block 0, layer 1 (ns since its start):\n");
    for (int i = 0; i < 14; ++i)
        std::printf("  %-16s %8lld\n", points[i], static_cast<long long>(mark[i] - mark[0]));
    std::printf(
        "  attention (block 0, thread 0): q loaded %lld, early keys read %lld, new key %lld, "
        "scores done %lld, warps merged %lld\n",
        static_cast<long long>(mark[20] - mark[0]), static_cast<long long>(mark[21] - mark[0]),
        static_cast<long long>(mark[22] - mark[0]), static_cast<long long>(mark[23] - mark[0]),
        static_cast<long long>(mark[24] - mark[0]));
    if (a.token) {  // the LM head's spread: each block's x staged and its products done
        unsigned long long head[2][256];
        FERRIS_CUDA_CHECK(cudaMemcpyFromSymbol(head, decode::g_head, sizeof(head)));
        std::vector<long long> staged, done;
        const unsigned long long t0 = *std::min_element(head[0], head[0] + blocks);
        for (int b = 0; b < blocks; ++b) {
            staged.push_back(static_cast<long long>(head[0][b] - t0));
            done.push_back(static_cast<long long>(head[1][b] - t0));
        }
        std::sort(staged.begin(), staged.end());
        std::sort(done.begin(), done.end());
        std::printf(
            "  LM head (ns after the first block staged x): last staged %lld; products done: "
            "first %lld, median %lld, 90%% %lld, last %lld\n",
            staged.back(), done.front(), done[done.size() / 2], done[done.size() * 9 / 10],
            done.back());
    }
#endif
    return 0;
}
