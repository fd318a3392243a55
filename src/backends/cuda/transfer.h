// Host <-> device transfers through pinned staging buffers: two chunks, so the host memcpy of one
// chunk overlaps the DMA of the other. Works from any (pageable, memory-mapped) host memory; an
// upload returns once the host bytes are consumed, a download once the host bytes are written.
// Small uploads (token ids, positions, segment offsets: a few per forward pass) take turns in a
// ring of 16 slots instead: reusing a buffer waits until its last copy ran, and a copy queued
// behind a whole batch of GPU work would hold the host there, so that the next batch's launches
// start only once the GPU is idle.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace ferris::cuda {

class PinnedStaging {
public:
    PinnedStaging() = default;
    ~PinnedStaging();
    PinnedStaging(const PinnedStaging&) = delete;
    PinnedStaging& operator=(const PinnedStaging&) = delete;

    void upload(void* device_dst, const void* host_src, size_t bytes, cudaStream_t stream);
    void download(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream);

private:
    static constexpr size_t kChunk = size_t(8) << 20;
    static constexpr size_t kSlot = size_t(256) << 10;  // uploads up to this size take a slot
    static constexpr int kSlots = 16;
    void ensure();
    void ensure_slots();

    void* buffer_[2] = {nullptr, nullptr};
    cudaEvent_t done_[2] = {nullptr, nullptr};  // recorded after each buffer's last DMA
    char* slots_ = nullptr;                     // kSlots x kSlot bytes
    cudaEvent_t slot_done_[kSlots] = {};        // recorded after each slot's last DMA
    int next_slot_ = 0;
};

}  // namespace ferris::cuda
