// Host <-> device transfers through pinned staging buffers: two chunks, so the host memcpy of one
// chunk overlaps the DMA of the other. Works from any (pageable, memory-mapped) host memory; an
// upload returns once the host bytes are consumed, a download once the host bytes are written.
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
    void ensure();

    void* buffer_[2] = {nullptr, nullptr};
    cudaEvent_t done_[2] = {nullptr, nullptr};  // recorded after each buffer's last DMA
};

}  // namespace ferris::cuda
