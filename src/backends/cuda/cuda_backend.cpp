// CudaBackend: the device entry points of cuda_api.h (count, name, one backend per index), memory,
// copies (host <-> device through pinned staging, conversions and strides on the device), and the
// op methods, which unpack tensors into the launchers of each op family's .cuh.
#include "backends/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/attention.cuh"
#include "backends/cuda/check.h"
#include "backends/cuda/copy.cuh"
#include "backends/cuda/elementwise.cuh"
#include "backends/cuda/embedding.cuh"
#include "backends/cuda/gemm_sm90a.h"
#include "backends/cuda/gemv.cuh"
#include "backends/cuda/linear.cuh"
#include "backends/cuda/loss.cuh"
#include "backends/cuda/norm.cuh"
#include "backends/cuda/op_trace.h"
#include "backends/cuda/pool.cuh"
#include "backends/cuda/rope.cuh"
#include "backends/cuda/rows.cuh"
#include "backends/cuda/sampling.cuh"
#include "backends/cuda/transfer.h"
#include "backends/cuda_api.h"

namespace ferris::cuda {

namespace {

constexpr size_t kGemmWorkspace = size_t(32) << 20;  // cuBLASLt's recommendation for Hopper
constexpr int kMaxDevices = 64;

// Dims of a copy with size-1 dims dropped and neighbours merged where both sides allow it.
CopyLayout copy_layout(const Tensor& dst, const Tensor& src) {
    CopyLayout l;
    for (int64_t d = 0; d < src.dim(); ++d) {
        const int64_t n = src.shape()[d];
        if (n == 1) continue;
        const int64_t ss = src.strides()[d], ds = dst.strides()[d];
        const int last = l.dims - 1;
        if (l.dims > 0 && l.src_stride[last] == ss * n && l.dst_stride[last] == ds * n) {
            l.shape[last] *= n;
            l.src_stride[last] = ss;
            l.dst_stride[last] = ds;
            continue;
        }
        if (l.dims == kMaxCopyDims)
            fail(ErrorCode::Unsupported, "[copy] cuda: more than ", kMaxCopyDims,
                 " non-mergeable dims in ", shape_str(src.shape()));
        l.shape[l.dims] = n;
        l.src_stride[l.dims] = ss;
        l.dst_stride[l.dims] = ds;
        ++l.dims;
    }
    if (l.dims == 0) {  // a single element
        l.dims = 1;
        l.shape[0] = 1;
        l.src_stride[0] = l.dst_stride[0] = 1;
    }
    return l;
}

bool is_flat(const CopyLayout& l) {
    return l.dims == 1 && l.src_stride[0] == 1 && l.dst_stride[0] == 1;
}

}  // namespace

// ---- Device entry points (cuda_api.h) ----

int device_count(std::string* reason) {
    int n = 0;
    const cudaError_t status = cudaGetDeviceCount(&n);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        if (reason) *reason = std::string("no usable CUDA device: ") + cudaGetErrorString(status);
        return 0;
    }
    if (n == 0 && reason) *reason = "no CUDA device found";
    return n;
}

std::string device_name(int index) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
        (void)cudaGetLastError();
        return "unknown";
    }
    return prop.name;
}

DeviceMemory device_memory(int index) {
    const AllocatorStats st = static_cast<CudaBackend&>(cuda_backend(index)).allocator_stats();
    DeviceMemory m;
    m.peak_tensor_bytes = st.peak_in_use_bytes;
    m.tensor_bytes = st.in_use_bytes;
    m.cached_bytes = st.cached_bytes;
    size_t free_bytes = 0, total_bytes = 0;
    int previous = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&previous));
    FERRIS_CUDA_CHECK(cudaSetDevice(index));
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
        m.device_used_bytes = total_bytes - free_bytes;
    (void)cudaGetLastError();
    FERRIS_CUDA_CHECK(cudaSetDevice(previous));
    return m;
}

Backend& cuda_backend(int index) {
    static std::atomic<CudaBackend*> backends[kMaxDevices] = {};
    static std::mutex mutex;
    if (index >= 0 && index < kMaxDevices) {
        if (CudaBackend* b = backends[index].load(std::memory_order_acquire)) return *b;
    }
    std::lock_guard<std::mutex> lock(mutex);
    std::string reason;
    const int n = device_count(&reason);
    if (n == 0) fail(ErrorCode::Unsupported, "cuda:", index, ": ", reason);
    if (index < 0 || index >= n || index >= kMaxDevices)
        fail(ErrorCode::InvalidArgument, "cuda:", index, ": only ", n, " CUDA device(s) present");
    CudaBackend* b = backends[index].load(std::memory_order_acquire);
    if (!b) {
        b = new CudaBackend(index);  // never deleted: see cuda_backend.h
        backends[index].store(b, std::memory_order_release);
    }
    return *b;
}

// ---- Lifetime, memory, copies ----

CudaBackend::CudaBackend(int index) : index_(index), allocator_(index) {
    FERRIS_CUDA_CHECK(cudaSetDevice(index));
    FERRIS_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, index));
    add_lane();
    stream_ = lanes_[0].stream;
    staging_ = std::make_unique<PinnedStaging>();
}

void CudaBackend::add_lane() {
    Lane lane;
    cudaStream_t stream = nullptr;
    FERRIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    lane.stream = stream;
    cudaEvent_t event = nullptr;
    FERRIS_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    lane.event = event;
    lane.gemm = {create_gemm_context(stream, kGemmWorkspace), destroy_gemm_context};
    lanes_.push_back(std::move(lane));
}

CudaBackend::~CudaBackend() {
    for (Lane& lane : lanes_) (void)cudaStreamSynchronize(lane.stream);
    inv_freq_.clear();
    staging_.reset();
    for (Lane& lane : lanes_) {
        lane.tiles = Tensor();
        lane.gemm.reset();
        (void)cudaEventDestroy(lane.event);
        (void)cudaStreamDestroy(lane.stream);
    }
}

std::string CudaBackend::name() const { return "cuda:" + std::to_string(index_); }

void CudaBackend::activate() const {
    int current = -1;
    FERRIS_CUDA_CHECK(cudaGetDevice(&current));
    if (current != index_) FERRIS_CUDA_CHECK(cudaSetDevice(index_));
}

bool CudaBackend::supports(OpKind op, DType dtype) const {
    switch (op) {
        case OpKind::Copy:
            return true;
        case OpKind::Embedding:
        case OpKind::LayerNorm:
        case OpKind::AddLayerNorm:
        case OpKind::LinearGelu:
        case OpKind::Gelu:
        case OpKind::Add:
        case OpKind::Pool:
        case OpKind::Linear:
        case OpKind::LinearAdd:
        case OpKind::SwiGlu:
        case OpKind::RmsNormLinear:
        case OpKind::RmsNormSwiGlu:
        case OpKind::RopeQkv:
        case OpKind::RmsNormQkvRope:
        case OpKind::DecoderLayers:
        case OpKind::DecoderGreedyStep:
        case OpKind::Attention:
        case OpKind::WriteRows:
            return is_float(dtype);
        default:
            return dtype == DType::F32;
    }
}

Tensor CudaBackend::empty(const Shape& shape, DType dtype) {
    for (int64_t d : shape)
        if (d < 0)
            fail(ErrorCode::InvalidArgument, "negative dimension in shape ", shape_str(shape));
    activate();
    const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    return Tensor(allocator_.allocate(bytes), 0, shape, contiguous_strides(shape), dtype);
}

void CudaBackend::synchronize() {
    activate();
    for (const Lane& lane : lanes_) FERRIS_CUDA_CHECK(cudaStreamSynchronize(lane.stream));
}

void CudaBackend::copy(Tensor& dst, const Tensor& src) {
    if (src.numel() == 0) return;
    const bool src_dev = !src.device().is_cpu(), dst_dev = !dst.device().is_cpu();
    if ((src_dev && src.device().index != index_) || (dst_dev && dst.device().index != index_)) {
        // Another card on one side: go through the host (each side's backend moves its half).
        Tensor host = Tensor::empty(src.shape(), src.dtype());
        if (src_dev) {
            cuda_backend(src.device().index).copy(host, src);
        } else {
            cpu::cpu_backend().copy(host, src);
        }
        if (dst_dev) {
            cuda_backend(dst.device().index).copy(dst, host);
        } else {
            cpu::cpu_backend().copy(dst, host);
        }
        return;
    }
    activate();
    const TraceScope trace_scope(stream_, "copy");
    if (src_dev && dst_dev) {
        copy_device(dst, src);
    } else if (dst_dev) {
        upload(dst, src);
    } else if (src_dev) {
        download(dst, src);
    } else {
        cpu::cpu_backend().copy(dst, src);
    }
}

void CudaBackend::copy_device(Tensor& dst, const Tensor& src) {
    const CopyLayout layout = copy_layout(dst, src);
    if (is_flat(layout)) {
        if (dst.dtype() == src.dtype()) {
            FERRIS_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(),
                                              cudaMemcpyDeviceToDevice, stream_));
        } else {
            convert_contiguous(dst.raw(), dst.dtype(), src.raw(), src.dtype(), src.numel(),
                               stream_);
        }
        return;
    }
    copy_strided(dst.raw(), dst.dtype(), src.raw(), src.dtype(), layout, src.numel(), stream_);
}

void CudaBackend::upload(Tensor& dst, const Tensor& src) {
    if (src.is_contiguous() && dst.is_contiguous() && src.dtype() == dst.dtype()) {
        staging_->upload(dst.raw(), src.raw(), src.nbytes(), stream_);
        return;
    }
    // Bytes as they are, then strides and conversion on the device.
    const Tensor packed = src.is_contiguous() ? src : src.contiguous();
    Tensor tmp = empty(src.shape(), src.dtype());
    staging_->upload(tmp.raw(), packed.raw(), packed.nbytes(), stream_);
    copy_device(dst, tmp);
}

void CudaBackend::download(Tensor& dst, const Tensor& src) {
    if (src.is_contiguous() && dst.is_contiguous() && src.dtype() == dst.dtype()) {
        staging_->download(dst.raw(), src.raw(), src.nbytes(), stream_);
        return;
    }
    // Strides and conversion on the device into dst's dtype, then the bytes.
    Tensor tmp = empty(src.shape(), dst.dtype());
    copy_device(tmp, src);
    if (dst.is_contiguous()) {
        staging_->download(dst.raw(), tmp.raw(), tmp.nbytes(), stream_);
        return;
    }
    Tensor host = Tensor::empty(src.shape(), dst.dtype());
    staging_->download(host.raw(), tmp.raw(), tmp.nbytes(), stream_);
    cpu::cpu_backend().copy(dst, host);
}

// ---- Ops ----

void CudaBackend::embedding(Tensor& out, const Tensor& table, const Tensor& ids) {
    activate();
    const TraceScope trace_scope(stream_, "embedding");
    cuda::embedding(out.data<float>(), table.raw(), table.dtype(), ids.data<int32_t>(), ids.numel(),
                    table.size(1), stream_);
}

void CudaBackend::embedding_layer_norm(Tensor& out, const std::vector<Tensor>& tables,
                                       const std::vector<Tensor>& ids, const Tensor& weight,
                                       const Tensor& bias, float eps) {
    activate();
    cuda::EmbeddingRows rows;
    bool fused = tables.size() <= cuda::EmbeddingRows::kMax;
    for (size_t t = 0; fused && t < tables.size(); ++t) {
        fused = tables[t].dtype() == tables[0].dtype();
        rows.tables[t] = tables[t].raw();
        rows.ids[t] = ids[t].data<int32_t>();
        rows.count = static_cast<int>(t + 1);
    }
    {
        const TraceScope trace_scope(stream_, "embedding_layer_norm");
        if (fused &&
            cuda::embedding_layer_norm(out.raw(), out.dtype(), rows, tables[0].dtype(),
                                       weight.raw(), weight.dtype(), bias.raw(), bias.dtype(),
                                       out.size(0), out.size(1), eps, stream_))
            return;
    }
    Backend::embedding_layer_norm(out, tables, ids, weight, bias, eps);  // lookups, adds, norm
}

void CudaBackend::rms_norm(Tensor& out, const Tensor& x, const Tensor& weight, float eps) {
    activate();
    const TraceScope trace_scope(stream_, "rms_norm");
    const int64_t c = x.size(-1);
    cuda::rms_norm(out.data<float>(), x.data<float>(), weight.raw(), weight.dtype(),
                   c ? x.numel() / c : 0, c, eps, stream_);
}

void CudaBackend::layer_norm(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                             float eps) {
    activate();
    const TraceScope trace_scope(stream_, "layer_norm");
    const int64_t c = x.size(-1);
    cuda::layer_norm(out.raw(), out.dtype(), x.raw(), x.dtype(), weight.raw(), weight.dtype(),
                     bias.raw(), bias.dtype(), c ? x.numel() / c : 0, c, eps, stream_);
}

void CudaBackend::add_layer_norm(Tensor& out, const Tensor& x, const Tensor& residual,
                                 const Tensor& weight, const Tensor& bias, float eps) {
    activate();
    const TraceScope trace_scope(stream_, "add_layer_norm");
    const int64_t c = x.size(-1), n = c ? x.numel() / c : 0;
    if (cuda::add_layer_norm(out.raw(), x.raw(), residual.raw(), x.dtype(), weight.raw(),
                             weight.dtype(), bias.raw(), bias.dtype(), n, c, eps, stream_))
        return;
    Tensor sum = empty(x.shape(), DType::F32);  // wide rows: the sum, then the block kernel
    Tensor x32 = x, r32 = residual;
    if (x.dtype() != DType::F32) {
        x32 = empty(x.shape(), DType::F32);
        r32 = empty(x.shape(), DType::F32);
        copy_device(x32, x);
        copy_device(r32, residual);
    }
    cuda::add(sum.raw(), x32.raw(), r32.raw(), DType::F32, 1.0f, sum.numel(), stream_);
    cuda::layer_norm(out.raw(), out.dtype(), sum.raw(), DType::F32, weight.raw(), weight.dtype(),
                     bias.raw(), bias.dtype(), n, c, eps, stream_);
}

void CudaBackend::gelu(Tensor& out, const Tensor& x) {
    activate();
    const TraceScope trace_scope(stream_, "gelu");
    cuda::gelu(out.raw(), x.raw(), x.dtype(), x.numel(), stream_);
}

void CudaBackend::linear(Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    activate();
    const TraceScope trace_scope(stream_, "linear");
    const int64_t in = x.size(-1), outs = weight.size(0);
    const int64_t rows = in ? x.numel() / in : out.numel() / (outs ? outs : 1);
    if (x.dtype() != DType::F32) {  // half activations in and out: no conversion pass
        Tensor bias_c = bias, bias_scratch;
        if (bias.defined() && !bias.is_contiguous()) {
            bias_c = empty(bias.shape(), bias.dtype());
            copy_device(bias_c, bias);
        }
        if (bias.defined() && bias.dtype() != weight.dtype())
            bias_scratch = empty({outs}, weight.dtype());
        cuda::linear_half(*lanes_[static_cast<size_t>(lane_)].gemm, out.raw(), x.raw(),
                          weight.raw(), weight.dtype(), bias.defined() ? bias_c.raw() : nullptr,
                          bias.dtype(), bias_scratch.defined() ? bias_scratch.raw() : nullptr, rows,
                          in, outs, stream_);
        return;
    }
    Tensor x_scratch, bias_f32;
    if (bias.defined()) {
        bias_f32 = bias;
        if (bias.dtype() != DType::F32 || !bias.is_contiguous()) {
            bias_f32 = empty(bias.shape(), DType::F32);
            copy_device(bias_f32, bias);
        }
    }
    if (weight.dtype() != DType::F32) x_scratch = empty({rows * in}, weight.dtype());
    cuda::linear(*lanes_[static_cast<size_t>(lane_)].gemm, out.data<float>(), x.data<float>(),
                 weight.raw(), weight.dtype(), bias.defined() ? bias_f32.data<float>() : nullptr,
                 rows, in, outs, x_scratch.defined() ? x_scratch.raw() : nullptr, stream_);
}

void CudaBackend::linear_gelu(Tensor& out, const Tensor& x, const Tensor& weight,
                              const Tensor& bias) {
    activate();
    const int64_t in = x.size(-1), outs = weight.size(0), rows = in ? x.numel() / in : 0;
    if (x.dtype() != DType::F32 && x.dtype() == weight.dtype()) {
        // On an sm_90 GPU, one kernel: the GELU in the product's epilogue. Its bias is read in
        // the activations' dtype, contiguous.
        Tensor bias_c = bias;
        if (bias.defined() && (bias.dtype() != weight.dtype() || !bias.is_contiguous())) {
            bias_c = empty({outs}, weight.dtype());
            copy_device(bias_c, bias);
        }
        const void* b = bias_c.defined() ? bias_c.raw() : nullptr;
        if (cuda::gemm_sm90a_fits(x.dtype(), rows, outs, in, out.raw(), x.raw(), weight.raw(), b)) {
            const TraceScope trace_scope(stream_, "linear_gelu");
            cuda::gemm_sm90a(out.raw(), x.raw(), weight.raw(), b, x.dtype(), /*gelu=*/true, rows,
                             outs, in, stream_);
            return;
        }
    }
    linear(out, x, weight, bias);
    gelu(out, out);
}

void CudaBackend::linear_add(Tensor& acc, const Tensor& x, const Tensor& weight,
                             const Tensor& bias) {
    activate();
    const TraceScope trace_scope(stream_, "linear_add");
    const int64_t in = x.size(-1), outs = weight.size(0), rows = acc.numel() / outs;
    if (!bias.defined() || (bias.dtype() == DType::F32 && bias.is_contiguous())) {
        if (cuda::gemv(acc.data<float>(), x.data<float>(), weight.raw(), weight.dtype(),
                       bias.defined() ? bias.data<float>() : nullptr, rows, in, outs, true,
                       stream_))
            return;
    }
    Tensor y = empty(acc.shape(), DType::F32);  // larger products: GEMM, then the add
    linear(y, x, weight, bias);
    cuda::add(acc.raw(), acc.raw(), y.raw(), DType::F32, 1.0f, acc.numel(), stream_);
}

void CudaBackend::swiglu(Tensor& out, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
    activate();
    const TraceScope trace_scope(stream_, "swiglu");
    const int64_t in = x.size(-1), outs = w_gate.size(0), rows = out.numel() / outs;
    if (w_gate.dtype() == w_up.dtype() &&
        cuda::gemv_swiglu(out.data<float>(), x.data<float>(), w_gate.raw(), w_up.raw(),
                          w_gate.dtype(), rows, in, outs, stream_))
        return;
    Tensor gate = empty(out.shape(), DType::F32), up = empty(out.shape(), DType::F32);
    linear(gate, x, w_gate, Tensor());
    linear(up, x, w_up, Tensor());
    silu_mul(out, gate, up);
}

namespace {
bool f32_vector(const Tensor& t) { return t.dtype() == DType::F32 && t.is_contiguous(); }
}  // namespace

void CudaBackend::rms_norm_linear(Tensor& out, const Tensor& x, const Tensor& norm_weight,
                                  float eps, const Tensor& weight, const Tensor& bias) {
    activate();
    const TraceScope trace_scope(stream_, "rms_norm_linear");
    const int64_t in = x.size(-1), outs = weight.size(0), rows = out.numel() / outs;
    if (f32_vector(norm_weight) && (!bias.defined() || f32_vector(bias)) &&
        cuda::gemv(out.data<float>(), x.data<float>(), weight.raw(), weight.dtype(),
                   bias.defined() ? bias.data<float>() : nullptr, rows, in, outs, false, stream_,
                   norm_weight.data<float>(), eps))
        return;
    Tensor h = empty(x.shape(), DType::F32);
    rms_norm(h, x, norm_weight, eps);
    linear(out, h, weight, bias);
}

void CudaBackend::rms_norm_swiglu(Tensor& out, const Tensor& x, const Tensor& norm_weight,
                                  float eps, const Tensor& w_gate, const Tensor& w_up) {
    activate();
    const TraceScope trace_scope(stream_, "rms_norm_swiglu");
    const int64_t in = x.size(-1), outs = w_gate.size(0), rows = out.numel() / outs;
    if (f32_vector(norm_weight) && w_gate.dtype() == w_up.dtype() &&
        cuda::gemv_swiglu(out.data<float>(), x.data<float>(), w_gate.raw(), w_up.raw(),
                          w_gate.dtype(), rows, in, outs, stream_, norm_weight.data<float>(), eps))
        return;
    Tensor h = empty(x.shape(), DType::F32);
    rms_norm(h, x, norm_weight, eps);
    swiglu(out, h, w_gate, w_up);
}

void CudaBackend::rope_qkv(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv,
                           const Tensor& positions, float theta) {
    activate();
    const TraceScope trace_scope(stream_, "rope_qkv");
    const int64_t n = qkv.size(0), nh = q.size(1), hs = q.size(2), nkv = k_cache.size(2);
    const Tensor& freq = inv_freq(theta, hs);
    cuda::rope_qkv(q.data<float>(), k_cache.raw(), v_cache.raw(), k_cache.dtype(),
                   k_cache.strides()[1], v_cache.strides()[1], qkv.data<float>(),
                   positions.data<int32_t>(), freq.data<float>(), n, nh, nkv, hs, stream_);
}

void CudaBackend::rms_norm_qkv_rope(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& x,
                                    const Tensor& norm_weight, float eps, const Tensor& weight,
                                    const Tensor& bias, const Tensor& positions, float theta) {
    activate();
    const TraceScope trace_scope(stream_, "rms_norm_qkv_rope");
    const int64_t n = x.size(0), in = x.size(1), nh = q.size(1), hs = q.size(2);
    if (f32_vector(norm_weight) && (!bias.defined() || f32_vector(bias))) {
        cuda::GemvRope rope;
        rope.q_out = q.data<float>();
        rope.k_cache = k_cache.raw();
        rope.v_cache = v_cache.raw();
        rope.cache_dtype = k_cache.dtype();
        rope.k_seq = k_cache.strides()[1];
        rope.v_seq = v_cache.strides()[1];
        rope.positions = positions.data<int32_t>();
        rope.inv_freq = inv_freq(theta, hs).data<float>();
        rope.nh = nh;
        rope.nkv = k_cache.size(2);
        rope.hs = hs;
        if (cuda::gemv_qkv_rope(rope, x.data<float>(), weight.raw(), weight.dtype(),
                                bias.defined() ? bias.data<float>() : nullptr, n, in, stream_,
                                norm_weight.data<float>(), eps))
            return;
    }
    Tensor qkv = empty({n, weight.size(0)}, DType::F32);
    rms_norm_linear(qkv, x, norm_weight, eps, weight, bias);
    rope_qkv(q, k_cache, v_cache, qkv, positions, theta);
}

void CudaBackend::add(Tensor& out, const Tensor& a, const Tensor& b, float alpha) {
    activate();
    const TraceScope trace_scope(stream_, "add");
    cuda::add(out.raw(), a.raw(), b.raw(), a.dtype(), alpha, a.numel(), stream_);
}

void CudaBackend::silu_mul(Tensor& out, const Tensor& gate, const Tensor& up) {
    activate();
    const TraceScope trace_scope(stream_, "silu_mul");
    cuda::silu_mul(out.data<float>(), gate.data<float>(), up.data<float>(), gate.numel(), stream_);
}

const Tensor& CudaBackend::inv_freq(float theta, int64_t hs) {
    auto it = inv_freq_.find({theta, hs});
    if (it != inv_freq_.end()) return it->second;
    // Exactly the CPU backend's f32 expression (src/backends/cpu/rope.cpp).
    const int64_t half = hs / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
        f[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(hs));
    Tensor host = Tensor::from_floats({half}, f);
    Tensor dev = empty({half}, DType::F32);
    upload(dev, host);
    return inv_freq_.emplace(std::make_pair(theta, hs), dev).first->second;
}

void CudaBackend::rope(Tensor& x, const Tensor& positions, float theta) {
    activate();
    const TraceScope trace_scope(stream_, "rope");
    const int64_t hs = x.size(2);
    const Tensor& freq = inv_freq(theta, hs);
    cuda::rope(x.data<float>(), positions.data<int32_t>(), freq.data<float>(), x.size(0), x.size(1),
               hs, stream_);
}

void CudaBackend::attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                            const AttentionMask& mask, float scale) {
    activate();
    const TraceScope trace_scope(stream_, "attention");
    Tensor kk = k, vv = v;
    if (k.dtype() != v.dtype()) {  // the kernels read one K/V dtype: meet in f32
        kk = empty(k.shape(), DType::F32);
        vv = empty(v.shape(), DType::F32);
        copy_device(kk, k);
        copy_device(vv, v);
    }
    AttentionArgs a{};
    a.out = out.raw();
    a.q = q.raw();
    a.io_dtype = q.dtype();
    a.k = kk.raw();
    a.v = vv.raw();
    a.kv_dtype = kk.dtype();
    a.b_n = q.size(0);
    a.t_n = q.size(1);
    a.nh = q.size(2);
    a.hs = q.size(3);
    a.s_n = kk.size(1);
    a.nkv = kk.size(2);
    a.k_batch = kk.strides()[0];
    a.k_seq = kk.strides()[1];
    a.v_batch = vv.strides()[0];
    a.v_seq = vv.strides()[1];
    a.causal = mask.causal;
    a.q_offset = mask.q_offset;
    a.key_lengths = mask.key_lengths.defined() ? mask.key_lengths.data<int32_t>() : nullptr;
    a.segments = mask.segments.defined() ? mask.segments.data<int32_t>() : nullptr;
    a.n_segments = mask.segments.defined() ? mask.segments.size(0) - 1 : 0;
    a.longest_segment = mask.longest_segment;
    a.bias = mask.relative_bias.defined() ? mask.relative_bias.data<float>() : nullptr;
    a.bias_width = mask.relative_bias.defined() ? mask.relative_bias.size(1) : 0;
    a.scale = scale;
    a.precision = mask.precision;
    if (a.hs > kMaxAttentionHeadSize)
        fail(ErrorCode::Unsupported, "[attention] cuda: head size ", a.hs, " > ",
             kMaxAttentionHeadSize);
    a.q_batch = q.strides()[0];
    a.q_seq = q.strides()[1];
    // Half activations, or many queries: the tensor-core kernels, reading q as it lies.
    static const bool packed_off = std::getenv("FERRIS_CUDA_NO_PACKED_ATTENTION");  // A/B runs
    static const bool full_grid = std::getenv("FERRIS_CUDA_ATTENTION_FULL_GRID");
    if (!packed_off && mask.host_segments.defined() && !full_grid) {
        const Tensor& tiles = packed_tiles(mask.host_segments);
        a.tiles = tiles.defined() ? tiles.data<int32_t>() : nullptr;
        a.n_tiles = tiles.defined() ? tiles.numel() / 4 : 0;
    }
    if (!packed_off && cuda::attention_packed(a, stream_)) return;
    a.tiles = nullptr;
    if ((a.io_dtype != DType::F32 || a.t_n > kDecodeMaxQueries) &&
        cuda::attention_tensor_cores(a, stream_))
        return;
    // The other kernels take contiguous f32 q and out.
    Tensor q32 = q, out32 = out;
    if (q.dtype() != DType::F32 || !q.is_contiguous()) {
        q32 = empty(q.shape(), DType::F32);
        copy_device(q32, q);
    }
    if (out.dtype() != DType::F32) out32 = empty(out.shape(), DType::F32);
    a.q = q32.raw();
    a.out = out32.raw();
    a.io_dtype = DType::F32;
    a.q_batch = q32.strides()[0];
    a.q_seq = q32.strides()[1];
    run_attention(a);
    if (out32.raw() != out.raw()) copy_device(out, out32);
}

const Tensor& CudaBackend::packed_tiles(const Tensor& host_segments) {
    // The encoders' twelve-odd layers ask with the same offsets: the list is built once.
    const int32_t* g = host_segments.data<int32_t>();
    const auto n = static_cast<size_t>(host_segments.numel());
    Lane& lane = lanes_[static_cast<size_t>(lane_)];  // each lane keeps its own list
    Tensor& tiles = lane.tiles;
    std::vector<int32_t>& tiles_for = lane.tiles_for;
    if (n == tiles_for.size() && std::equal(g, g + n, tiles_for.begin())) return tiles;
    tiles_for.assign(g, g + n);
    // Chunk-major: every sequence's first 64 rows, then the next; {begin, end, chunk, 0} each.
    std::vector<int32_t> list;
    for (int32_t chunk = 0;; ++chunk) {
        const size_t before = list.size();
        for (size_t s = 0; s + 1 < n; ++s)
            if (g[s + 1] - g[s] > chunk * cuda::kPackedRows)
                list.insert(list.end(), {g[s], g[s + 1], chunk, 0});
        if (list.size() == before) break;
    }
    const bool packable = !list.empty() && list.size() / 4 < (size_t(1) << 31);
    tiles = Tensor();
    if (packable) {
        tiles = empty({static_cast<int64_t>(list.size())}, DType::I32);
        copy(tiles, Tensor::from_ints({static_cast<int64_t>(list.size())}, list));
    }
    return tiles;
}

void CudaBackend::run_attention(const AttentionArgs& a) {
    const size_t floats = attention_scratch_floats(a, sms_);
    Tensor scratch;
    if (floats) scratch = empty({static_cast<int64_t>(floats)}, DType::F32);
    cuda::attention(a, sms_, floats ? scratch.data<float>() : nullptr, stream_);
}

void CudaBackend::cross_entropy(Tensor& out, const Tensor& logits, const Tensor& targets) {
    activate();
    const TraceScope trace_scope(stream_, "cross_entropy");
    cuda::cross_entropy(out.data<float>(), logits.data<float>(), targets.data<int32_t>(),
                        logits.size(0), logits.size(1), stream_);
}

void CudaBackend::write_rows(Tensor& dst, const Tensor& src, const Tensor& rows) {
    activate();
    const TraceScope trace_scope(stream_, "write_rows");
    const int64_t b_n = src.size(0), t_n = src.size(1);
    cuda::write_rows(dst.raw(), dst.dtype(), dst.strides()[0], dst.strides()[1], src.data<float>(),
                     rows.data<int32_t>(), b_n, t_n, t_n ? src.numel() / (b_n * t_n) : 0, stream_);
}

void CudaBackend::argmax(Tensor& out, const Tensor& x) {
    activate();
    const TraceScope trace_scope(stream_, "argmax");
    const int64_t n = x.size(0), v = x.size(1);
    const auto bytes = static_cast<int64_t>(cuda::argmax_scratch_bytes(n, v));
    Tensor scratch = empty({(bytes + 7) / 8}, DType::I64);
    cuda::argmax(out.data<int32_t>(), x.data<float>(), n, v, scratch.raw(), stream_);
}

void CudaBackend::sample(Tensor& out, const Tensor& logits, Tensor& seen, const Tensor& uniform,
                         const SampleOptions& options) {
    activate();
    const TraceScope trace_scope(stream_, "sample");
    const int64_t v = logits.size(1);
    Tensor scratch = empty({cuda::sample_scratch_words(v)}, DType::I32);
    cuda::SampleArgs a{};
    a.out = out.data<int32_t>();
    a.logits = logits.data<float>();
    a.seen = seen.data<int32_t>();
    a.uniform = uniform.data<int64_t>();
    a.v = static_cast<int32_t>(v);
    a.temperature = options.temperature;
    a.top_k = options.top_k;
    a.top_p = options.top_p;
    a.min_p = options.min_p;
    a.repetition_penalty = options.repetition_penalty;
    cuda::sample(a, scratch.raw(), stream_);
}

namespace {

// A captured CUDA graph and the allocator blocks its replays write into.
class CudaGraphStep final : public RecordedStep {
public:
    CudaGraphStep(cudaGraphExec_t exec, cudaStream_t stream, CachingAllocator& allocator,
                  std::vector<std::pair<size_t, void*>> blocks)
        : exec_(exec), stream_(stream), allocator_(allocator), blocks_(std::move(blocks)) {}
    ~CudaGraphStep() override {
        (void)cudaStreamSynchronize(stream_);
        (void)cudaGraphExecDestroy(exec_);
        allocator_.release_reserved(blocks_);
    }
    void replay() override { FERRIS_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

private:
    cudaGraphExec_t exec_;
    cudaStream_t stream_;
    CachingAllocator& allocator_;
    std::vector<std::pair<size_t, void*>> blocks_;
};

}  // namespace

std::unique_ptr<RecordedStep> CudaBackend::record(const std::function<void()>& body) {
    activate();
    // FERRIS_CUDA_NO_GRAPH=1: re-run the function instead of capturing a graph (for the op trace).
    if (std::getenv("FERRIS_CUDA_NO_GRAPH")) return cpu::cpu_backend().record(body);
    if (open_lanes_ > 0) fail(ErrorCode::InvalidArgument, name(), ": record between fork and join");
    allocator_.begin_private_pool();
    cudaGraph_t graph = nullptr;
    // Relaxed: the body may cudaMalloc (a cache miss) while capturing.
    FERRIS_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    try {
        body();
    } catch (...) {
        (void)cudaStreamEndCapture(stream_, &graph);
        if (graph) (void)cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        allocator_.release_reserved(allocator_.end_private_pool());
        throw;
    }
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    std::vector<std::pair<size_t, void*>> blocks = allocator_.end_private_pool();
    if (ended != cudaSuccess) {
        allocator_.release_reserved(blocks);
        check_cuda(ended, "cudaStreamEndCapture", __FILE__, __LINE__);
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (made != cudaSuccess) {
        allocator_.release_reserved(blocks);
        check_cuda(made, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    return std::make_unique<CudaGraphStep>(exec, stream_, allocator_, std::move(blocks));
}

void CudaBackend::pool(Tensor& out, const Tensor& x, const Tensor& segments, PoolMode mode,
                       bool normalize) {
    activate();
    const TraceScope trace_scope(stream_, "pool");
    cuda::pool(out.data<float>(), x.raw(), x.dtype(), segments.data<int32_t>(),
               segments.size(0) - 1, x.size(1), static_cast<int>(mode), normalize, stream_);
}

}  // namespace ferris::cuda
