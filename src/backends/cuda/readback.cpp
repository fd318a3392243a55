// CudaBackend::readback: small device -> host copies queued on the backend's current stream into
// pinned slots, each followed by an event, so that take() waits for its own copy and not for the
// work queued after it (the next decode step).
#include <cuda_runtime_api.h>

#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/cuda_backend.h"
#include "ferris/error.h"

namespace ferris::cuda {

namespace {

class PinnedReadback final : public Readback {
public:
    // `stream` points at the backend's current stream (its lane may change between posts).
    PinnedReadback(int device, CUstream_st* const* stream, int slots, size_t bytes)
        : device_(device), stream_(stream), slots_(slots), bytes_(bytes) {
        FERRIS_CUDA_CHECK(
            cudaHostAlloc(&host_, static_cast<size_t>(slots) * bytes, cudaHostAllocDefault));
        events_.resize(static_cast<size_t>(slots));
        for (cudaEvent_t& e : events_)
            FERRIS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    ~PinnedReadback() override {
        (void)cudaSetDevice(device_);
        for (cudaEvent_t e : events_) {  // no copy may still be writing the slots
            if (!e) continue;
            (void)cudaEventSynchronize(e);
            (void)cudaEventDestroy(e);
        }
        if (host_) (void)cudaFreeHost(host_);
    }
    PinnedReadback(const PinnedReadback&) = delete;
    PinnedReadback& operator=(const PinnedReadback&) = delete;

    void post(int slot, const Tensor& src) override {
        const size_t n = src.numel() * dtype_size(src.dtype());
        if (slot < 0 || slot >= slots_ || n > bytes_ || !src.is_contiguous() ||
            src.device() != Device::cuda(device_))
            fail(ErrorCode::InvalidArgument, "readback: slot ", slot, " of ", slots_, ", ", n,
                 " bytes of ", bytes_, ", a contiguous tensor on cuda:", device_);
        FERRIS_CUDA_CHECK(cudaSetDevice(device_));
        FERRIS_CUDA_CHECK(
            cudaMemcpyAsync(slot_at(slot), src.raw(), n, cudaMemcpyDeviceToHost, *stream_));
        FERRIS_CUDA_CHECK(cudaEventRecord(events_[static_cast<size_t>(slot)], *stream_));
    }
    const void* take(int slot) override {
        if (slot < 0 || slot >= slots_)
            fail(ErrorCode::InvalidArgument, "readback: slot ", slot, " of ", slots_);
        FERRIS_CUDA_CHECK(cudaEventSynchronize(events_[static_cast<size_t>(slot)]));
        return slot_at(slot);
    }

private:
    char* slot_at(int slot) const {
        return static_cast<char*>(host_) + static_cast<size_t>(slot) * bytes_;
    }

    int device_;
    CUstream_st* const* stream_;
    int slots_;
    size_t bytes_;
    void* host_ = nullptr;
    std::vector<cudaEvent_t> events_;
};

}  // namespace

std::unique_ptr<Readback> CudaBackend::readback(int slots, size_t bytes) {
    activate();
    return std::make_unique<PinnedReadback>(index_, &stream_, slots, bytes);
}

}  // namespace ferris::cuda
