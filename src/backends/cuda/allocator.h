// Caching device allocator, one per device: cudaMalloc'ed blocks in size buckets (512 B steps to
// 1 MiB, four per power of two to 64 MiB, 2 MiB steps above) return to a per-bucket free list when
// their Storage dies, so a forward pass's activations reuse memory without cudaMalloc/cudaFree.
// A backend's work is on one stream, so a freed block still read by queued kernels is only reused
// by later work on that stream; while the backend is forked into lanes (several streams, see
// CudaBackend::fork_lanes) each lane reuses only the blocks it allocated itself. Out of memory:
// empty the cache, retry once, then throw.
#pragma once

#include <cstddef>
#include <cstdint>
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

    // Lanes: between fork(n) and join(), allocations are made for the lane last named by
    // use_lane (0 first). A block allocated on lane i during the fork and freed during it is
    // reused only by lane i (the kernels that may still read it are queued there); a block
    // allocated before the fork and freed during it (any lane may have read it) is held until
    // the join, which merges every list (by then the caller has ordered all lanes' work).
    void fork(int lanes);
    void use_lane(int lane);
    void join();
    AllocatorStats stats() const;
    static constexpr int kMaxLanes = 4;

    static size_t bucket_size(size_t bytes);

private:
    using FreeLists = std::unordered_map<size_t, std::vector<void*>>;  // bucket -> blocks
    // Also says which lane and fork the block is made for (-1 and 0 outside a fork).
    void* allocate_block(size_t bytes, size_t bucket, int& lane, uint64_t& fork);
    void release_block(void* ptr, size_t bucket, int lane, uint64_t fork);
    static void* pop(FreeLists& lists, size_t bucket);
    void free_all_cached();  // cudaFree every block of every list (the caller holds mutex_)

    int device_;
    mutable std::mutex mutex_;
    FreeLists free_;  // cached blocks every lane may reuse
    bool capturing_ = false;
    FreeLists private_free_;  // freed during a capture
    int lanes_ = 0;           // 0: not forked
    int lane_ = 0;
    uint64_t fork_ = 0;  // counts forks, so that a block knows whether it is of this one
    FreeLists lane_free_[kMaxLanes];  // during a fork: blocks of that lane
    FreeLists held_;                  // during a fork: blocks from before it, freed in it
    AllocatorStats stats_;
};

}  // namespace ferris::cuda
