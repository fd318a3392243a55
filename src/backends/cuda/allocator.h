// Caching device allocator, one per device: cudaMalloc'ed blocks in size buckets (512 B steps to
// 1 MiB, four per power of two to 64 MiB, 2 MiB steps above) return to a per-bucket free list when
// their Storage dies, so a forward pass's activations reuse memory without cudaMalloc/cudaFree.
// All of a backend's work is on one stream, so a freed block still read by queued kernels is only
// reused by later work on that stream. Out of memory: empty the cache, retry once, then throw.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferris/tensor.h"

namespace ferris::cuda {

struct AllocatorStats {
    size_t in_use_bytes = 0;       // bucket bytes held by live Storages
    size_t peak_in_use_bytes = 0;  // the most in_use_bytes has been
    size_t cached_bytes = 0;       // bucket bytes in the free lists
    size_t device_mallocs = 0;     // cudaMalloc calls that succeeded
    size_t cache_hits = 0;         // allocations served from a free list
};

class CachingAllocator {
public:
    explicit CachingAllocator(int device) : device_(device) {}
    ~CachingAllocator();
    CachingAllocator(const CachingAllocator&) = delete;
    CachingAllocator& operator=(const CachingAllocator&) = delete;

    // `bytes` of device memory (uninitialized) owned by the returned Storage; throws OutOfMemory
    // saying how many bytes were asked for and how many are free.
    std::shared_ptr<Storage> allocate(size_t bytes);
    void empty_cache();  // cudaFree every cached block

    // Graph capture: between begin and end, freed blocks go to a private list that only the
    // capture reuses; end hands them over (bucket, pointer) to the graph, whose replays write
    // into them. release_reserved() gives a destroyed graph's blocks back to the cache.
    void begin_private_pool();
    std::vector<std::pair<size_t, void*>> end_private_pool();
    void release_reserved(const std::vector<std::pair<size_t, void*>>& blocks);
    bool capturing() const { return capturing_; }  // between begin and end_private_pool
    AllocatorStats stats() const;

    static size_t bucket_size(size_t bytes);

private:
    void* allocate_block(size_t bytes, size_t bucket);
    void release_block(void* ptr, size_t bucket);

    int device_;
    mutable std::mutex mutex_;
    std::unordered_map<size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
    bool capturing_ = false;
    std::unordered_map<size_t, std::vector<void*>> private_free_;  // freed during a capture
    AllocatorStats stats_;
};

}  // namespace ferris::cuda
