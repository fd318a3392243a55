// The CUDA backend: one CudaBackend per device index, created on first use and kept for the life
// of the process (never destroyed: tensors freed during static destruction still find it). Each
// owns a stream (all its work is ordered on it), a caching allocator, cuBLASLt/cuBLAS handles with
// a workspace, and pinned staging buffers; forked into lanes (lanes.cpp) it has one stream and one
// cuBLAS context a lane. Not safe for concurrent calls from several threads.
// This header has no CUDA types, so tests and tools can include it without the CUDA headers.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/allocator.h"

struct CUstream_st;
struct CUevent_st;

namespace ferris::cuda {

struct GemmContext;
struct AttentionArgs;
struct DecodeLayersArgs;
class PinnedStaging;

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int index);
    ~CudaBackend() override;

    Device device() const override { return Device::cuda(index_); }
    std::string name() const override;
    bool supports(OpKind op, DType dtype) const override;

    Tensor empty(const Shape& shape, DType dtype) override;
    void copy(Tensor& dst, const Tensor& src) override;
    void synchronize() override;
    // Stream capture into a CUDA graph; the blocks the capture allocates stay reserved for it.
    std::unique_ptr<RecordedStep> record(const std::function<void()>& body) override;
    // Pinned slots, each copy queued on the current lane's stream with an event after it
    // (readback.cpp).
    std::unique_ptr<Readback> readback(int slots, size_t bytes) override;
    // Lanes (lanes.cpp): up to CachingAllocator::kMaxLanes streams, each with its own cuBLAS
    // context and packed-attention tile list.
    int fork_lanes(int n) override;
    void use_lane(int lane) override;
    void join_lanes() override;

    void embedding(Tensor& out, const Tensor& table, const Tensor& ids) override;
    void embedding_layer_norm(Tensor& out, const std::vector<Tensor>& tables,
                              const std::vector<Tensor>& ids, const Tensor& weight,
                              const Tensor& bias, float eps) override;
    void rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) override;
    void layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    float eps) override;
    void add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual, const Tensor& weight,
                        const Tensor& bias, float eps) override;
    void gelu(Tensor& out, const Tensor& x) override;
    void linear(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) override;
    void linear_gelu(Tensor& out, const Tensor& x, const Tensor& weight,
                     const Tensor& bias) override;
    void linear_add(Tensor& acc, const Tensor& x, const Tensor& weight,
                    const Tensor& bias) override;
    void swiglu(Tensor& out, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) override;
    void rms_norm_linear(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& weight, const Tensor& bias) override;
    void rms_norm_swiglu(Tensor& out, const Tensor& x, const Tensor& norm_weight, float eps,
                         const Tensor& w_gate, const Tensor& w_up) override;
    void rope_qkv(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv,
                  const Tensor& positions, float theta) override;
    void rms_norm_qkv_rope(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& x,
                           const Tensor& norm_weight, float eps, const Tensor& weight,
                           const Tensor& bias, const Tensor& positions, float theta) override;
    void add(Tensor& out, const Tensor& a, const Tensor& b, float alpha) override;
    void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up) override;
    void rope(Tensor& x, const Tensor& positions, float theta) override;
    void attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                   const AttentionMask& mask, float scale) override;
    void cross_entropy(Tensor& out, const Tensor& logits, const Tensor& targets) override;
    void pool(Tensor& out, const Tensor& x, const Tensor& segments, PoolMode mode,
              bool normalize) override;
    void write_rows(Tensor& dst, const Tensor& src, const Tensor& rows) override;
    void argmax(Tensor& out, const Tensor& x) override;
    void sample(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
                const SampleOptions& options) override;
    // One persistent kernel where it applies (decode_layers.cu), else the op calls
    // (cuda_backend_decoder.cpp).
    void decoder_layers(Tensor& x, const std::vector<DecoderLayer>& layers,
                        const DecoderStep& step) override;
    void decoder_greedy_step(Tensor& token, Tensor& logits, Tensor& x, const DecoderHead& head,
                             const std::vector<DecoderLayer>& layers,
                             const DecoderStep& step) override;

    int index() const { return index_; }
    AllocatorStats allocator_stats() const { return allocator_.stats(); }
    void empty_cache() { allocator_.empty_cache(); }

private:
    void activate() const;  // makes this device current for the calling thread
    // The persistent decode kernel's arguments for these layers (false: they do not fit it),
    // and its launch with the rope frequencies and scratch filled in.
    bool decode_args(DecodeLayersArgs& a, Tensor& x, const std::vector<DecoderLayer>& layers,
                     const DecoderStep& step);
    void run_decode(DecodeLayersArgs& a, float theta);
    void copy_device(Tensor& dst, const Tensor& src);  // both on this device
    void upload(Tensor& dst, const Tensor& src);       // src on the host
    void download(Tensor& dst, const Tensor& src);     // dst on the host
    const Tensor& inv_freq(float theta, int64_t hs);   // rope frequencies, cached
    void run_attention(const AttentionArgs& a);        // f32 q/out: picks the kernel, scratch
    // The packed attention kernel's live blocks for these host offsets (AttentionArgs::tiles),
    // on the device; kept while the offsets repeat (every layer of a forward pass asks). An
    // undefined tensor where the list does not fit its packing.
    const Tensor& packed_tiles(const Tensor& host_segments);

    // The persistent decode kernel's scratches, made outside graph captures and kept for the life
    // of the backend (graphs may hold their pointers): each launch leaves its header zeroed, so
    // none needs a memset (see run_decode). The last is the largest.
    std::vector<Tensor> decode_scratch_;
    // The handed-off values' words (decode_layers_handoff_words) the last scratch was zeroed for: a
    // launch with another layout starts it again with a memset.
    int64_t decode_scratch_handoff_ = -1;
    // A stream of work with what its ops must not share with another lane's: the cuBLASLt
    // workspace, and packed_tiles' list (for the offsets in tiles_for).
    struct Lane {
        CUstream_st* stream = nullptr;
        CUevent_st* event = nullptr;  // where the lane's work is, for another lane to wait on
        std::unique_ptr<GemmContext, void (*)(GemmContext*)> gemm{nullptr, nullptr};
        Tensor tiles;
        std::vector<int32_t> tiles_for;
    };
    void add_lane();  // a new stream, event and cuBLAS context

    int index_;
    int sms_ = 1;
    CachingAllocator allocator_;
    std::vector<Lane> lanes_;        // [0]: the backend's own, made with it
    int lane_ = 0;                   // the current lane
    int open_lanes_ = 0;             // between fork_lanes and join_lanes: how many; 0 otherwise
    CUstream_st* stream_ = nullptr;  // the current lane's stream (readbacks point at it)
    std::unique_ptr<PinnedStaging> staging_;
    std::map<std::pair<float, int64_t>, Tensor> inv_freq_;
};

}  // namespace ferris::cuda
