// Pinned double-buffered staging for host <-> device copies (see transfer.h).
#include "backends/cuda/transfer.h"

#include <algorithm>
#include <cstring>

#include "backends/cuda/check.h"

namespace ferris::cuda {

PinnedStaging::~PinnedStaging() {
    for (int i = 0; i < 2; ++i) {
        if (done_[i]) (void)cudaEventSynchronize(done_[i]);
        if (done_[i]) (void)cudaEventDestroy(done_[i]);
        if (buffer_[i]) (void)cudaFreeHost(buffer_[i]);
    }
    for (cudaEvent_t& e : slot_done_) {
        if (e) (void)cudaEventSynchronize(e);
        if (e) (void)cudaEventDestroy(e);
    }
    if (slots_) (void)cudaFreeHost(slots_);
}

void PinnedStaging::ensure() {
    if (buffer_[0]) return;
    for (int i = 0; i < 2; ++i) {
        FERRIS_CUDA_CHECK(cudaHostAlloc(&buffer_[i], kChunk, cudaHostAllocDefault));
        FERRIS_CUDA_CHECK(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
        FERRIS_CUDA_CHECK(cudaEventRecord(done_[i], nullptr));
    }
}

void PinnedStaging::ensure_slots() {
    if (slots_) return;
    FERRIS_CUDA_CHECK(
        cudaHostAlloc(reinterpret_cast<void**>(&slots_), kSlot * kSlots, cudaHostAllocDefault));
    for (cudaEvent_t& e : slot_done_) {
        FERRIS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
        FERRIS_CUDA_CHECK(cudaEventRecord(e, nullptr));
    }
}

void PinnedStaging::upload(void* device_dst, const void* host_src, size_t bytes,
                           cudaStream_t stream) {
    if (bytes == 0) return;
    if (bytes <= kSlot) {
        ensure_slots();
        const int i = next_slot_;
        next_slot_ = (next_slot_ + 1) % kSlots;
        FERRIS_CUDA_CHECK(cudaEventSynchronize(slot_done_[i]));  // 16 uploads ago: usually done
        char* slot = slots_ + static_cast<size_t>(i) * kSlot;
        std::memcpy(slot, host_src, bytes);
        FERRIS_CUDA_CHECK(cudaMemcpyAsync(device_dst, slot, bytes, cudaMemcpyHostToDevice, stream));
        FERRIS_CUDA_CHECK(cudaEventRecord(slot_done_[i], stream));
        return;
    }
    ensure();
    const char* src = static_cast<const char*>(host_src);
    char* dst = static_cast<char*>(device_dst);
    int i = 0;
    for (size_t off = 0; off < bytes; off += kChunk, i ^= 1) {
        const size_t n = std::min(kChunk, bytes - off);
        FERRIS_CUDA_CHECK(cudaEventSynchronize(done_[i]));  // its previous DMA has finished
        std::memcpy(buffer_[i], src + off, n);
        FERRIS_CUDA_CHECK(
            cudaMemcpyAsync(dst + off, buffer_[i], n, cudaMemcpyHostToDevice, stream));
        FERRIS_CUDA_CHECK(cudaEventRecord(done_[i], stream));
    }
}

void PinnedStaging::download(void* host_dst, const void* device_src, size_t bytes,
                             cudaStream_t stream) {
    if (bytes == 0) return;
    ensure();
    const char* src = static_cast<const char*>(device_src);
    char* dst = static_cast<char*>(host_dst);
    // Chunk k goes device -> buffer[k % 2]; while it flies, chunk k - 1 is copied out on the host.
    size_t prev_off = 0, prev_n = 0;
    int i = 0;
    for (size_t off = 0; off < bytes; off += kChunk, i ^= 1) {
        const size_t n = std::min(kChunk, bytes - off);
        FERRIS_CUDA_CHECK(
            cudaMemcpyAsync(buffer_[i], src + off, n, cudaMemcpyDeviceToHost, stream));
        FERRIS_CUDA_CHECK(cudaEventRecord(done_[i], stream));
        if (prev_n) {
            FERRIS_CUDA_CHECK(cudaEventSynchronize(done_[i ^ 1]));
            std::memcpy(dst + prev_off, buffer_[i ^ 1], prev_n);
        }
        prev_off = off;
        prev_n = n;
    }
    FERRIS_CUDA_CHECK(cudaEventSynchronize(done_[i ^ 1]));
    std::memcpy(dst + prev_off, buffer_[i ^ 1], prev_n);
}

}  // namespace ferris::cuda
