// Caching device allocator: size buckets, free lists, and the out-of-memory message.
#include "backends/cuda/allocator.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "backends/cuda/check.h"

namespace ferris::cuda {

namespace {

constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kMediumLimit = size_t(64) << 20;
constexpr size_t kLargeStep = size_t(2) << 20;
constexpr size_t kMaxRequest = size_t(1) << 56;

size_t round_up(size_t n, size_t step) { return (n + step - 1) / step * step; }

double mib(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

size_t CachingAllocator::bucket_size(size_t bytes) {
    if (bytes <= kSmallLimit) return round_up(bytes ? bytes : 1, 512);
    if (bytes > kMediumLimit) return round_up(bytes, kLargeStep);
    const int lg = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes));
    return round_up(bytes, size_t(1) << (lg - 2));
}

CachingAllocator::~CachingAllocator() { empty_cache(); }

std::shared_ptr<Storage> CachingAllocator::allocate(size_t bytes) {
    const Device device = Device::cuda(device_);
    if (bytes == 0) return std::make_shared<Storage>(nullptr, 0, device, nullptr);
    const size_t bucket = bytes > kMaxRequest ? bytes : bucket_size(bytes);
    int lane = -1;  // -1: not made during a fork
    uint64_t fork = 0;
    void* ptr = allocate_block(bytes, bucket, lane, fork);
    return std::make_shared<Storage>(ptr, bytes, device, [this, bucket, lane, fork](void* p) {
        release_block(p, bucket, lane, fork);
    });
}

void* CachingAllocator::pop(FreeLists& lists, size_t bucket) {
    auto it = lists.find(bucket);
    if (it == lists.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    return p;
}

void* CachingAllocator::allocate_block(size_t bytes, size_t bucket, int& lane, uint64_t& fork) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (lanes_ > 0) lane = lane_, fork = fork_;
    if (capturing_) {  // reuse within the capture first: the graph replays in the same order
        if (void* p = pop(private_free_, bucket)) {
            ++stats_.cache_hits;
            return p;
        }
    }
    // During a fork: this lane's own blocks, then those freed before the fork (all lanes start
    // after their last use).
    void* cached = lanes_ > 0 ? pop(lane_free_[lane_], bucket) : nullptr;
    if (!cached) cached = pop(free_, bucket);
    if (cached) {
        stats_.cached_bytes -= bucket;
        stats_.in_use_bytes += bucket;
        stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
        ++stats_.cache_hits;
        return cached;
    }
    int previous = 0;
    FERRIS_CUDA_CHECK(cudaGetDevice(&previous));
    if (previous != device_) FERRIS_CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    cudaError_t status = bucket > kMaxRequest ? cudaErrorMemoryAllocation : cudaMalloc(&p, bucket);
    if (status == cudaErrorMemoryAllocation && stats_.cached_bytes > 0) {
        (void)cudaGetLastError();  // clear the error so later launch checks do not report it
        free_all_cached();
        status = cudaMalloc(&p, bucket);
    }
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_bytes = 0, total_bytes = 0;
        (void)cudaMemGetInfo(&free_bytes, &total_bytes);
        (void)cudaGetLastError();
        if (previous != device_) (void)cudaSetDevice(previous);
        if (status == cudaErrorMemoryAllocation)
            fail(ErrorCode::OutOfMemory, "cuda:", device_, ": out of memory allocating ", bytes,
                 " bytes (", mib(bucket), " MiB block); ", mib(free_bytes), " MiB free of ",
                 mib(total_bytes), " MiB, ", mib(stats_.in_use_bytes),
                 " MiB in use by Ferris tensors");
        check_cuda(status, "cudaMalloc", __FILE__, __LINE__);
    }
    if (previous != device_) FERRIS_CUDA_CHECK(cudaSetDevice(previous));
    stats_.in_use_bytes += bucket;
    stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
    ++stats_.device_mallocs;
    return p;
}

void CachingAllocator::release_block(void* ptr, size_t bucket, int lane, uint64_t fork) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (capturing_) {  // still counted in use: the graph will own it
        private_free_[bucket].push_back(ptr);
        return;
    }
    if (lanes_ == 0)
        free_[bucket].push_back(ptr);
    else if (lane >= 0 && fork == fork_)
        lane_free_[lane][bucket].push_back(ptr);
    else
        held_[bucket].push_back(ptr);
    stats_.in_use_bytes -= bucket;
    stats_.cached_bytes += bucket;
}

void CachingAllocator::free_all_cached() {
    // Blocks of a lane or held may still be read by queued work on another stream: wait for all.
    (void)cudaDeviceSynchronize();
    auto free_list = [](FreeLists& lists) {
        for (auto& [size, blocks] : lists)
            for (void* b : blocks) (void)cudaFree(b);
        lists.clear();
    };
    free_list(free_);
    free_list(held_);
    for (FreeLists& lists : lane_free_) free_list(lists);
    stats_.cached_bytes = 0;
}

void CachingAllocator::empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess) return;  // runtime already shut down
    if (previous != device_) (void)cudaSetDevice(device_);
    free_all_cached();
    if (previous != device_) (void)cudaSetDevice(previous);
}

void CachingAllocator::fork(int lanes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (lanes < 1 || lanes > kMaxLanes || lanes_ > 0 || capturing_)
        fail(ErrorCode::InvalidArgument, "allocator: fork into ", lanes, " lanes (", lanes_,
             " open, at most ", kMaxLanes, capturing_ ? ", during a capture)" : ")");
    lanes_ = lanes;
    lane_ = 0;
    ++fork_;
}

void CachingAllocator::use_lane(int lane) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (lane < 0 || lane >= std::max(lanes_, 1))
        fail(ErrorCode::InvalidArgument, "allocator: lane ", lane, " of ", std::max(lanes_, 1));
    lane_ = lane;
}

void CachingAllocator::join() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto merge = [this](FreeLists& lists) {
        for (auto& [bucket, blocks] : lists)
            free_[bucket].insert(free_[bucket].end(), blocks.begin(), blocks.end());
        lists.clear();
    };
    merge(held_);
    for (FreeLists& lists : lane_free_) merge(lists);
    lanes_ = 0;
    lane_ = 0;
}

void CachingAllocator::begin_private_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = true;
}

std::vector<std::pair<size_t, void*>> CachingAllocator::end_private_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = false;
    std::vector<std::pair<size_t, void*>> blocks;
    for (auto& [bucket, list] : private_free_)
        for (void* p : list) blocks.emplace_back(bucket, p);
    private_free_.clear();
    return blocks;
}

void CachingAllocator::release_reserved(const std::vector<std::pair<size_t, void*>>& blocks) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [bucket, p] : blocks) {
        free_[bucket].push_back(p);
        stats_.in_use_bytes -= bucket;
        stats_.cached_bytes += bucket;
    }
}

AllocatorStats CachingAllocator::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

}  // namespace ferris::cuda
