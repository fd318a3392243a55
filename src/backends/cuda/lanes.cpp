// CudaBackend's lanes: between fork_lanes and join_lanes the ops run on the current lane's stream,
// so that independent pieces of work (the chunks of an embedding call) fill each other's kernel
// tails and launch gaps. A lane beyond the first is made on first use and kept.
#include <cuda_runtime_api.h>

#include <algorithm>

#include "backends/cuda/check.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/linear.cuh"

namespace ferris::cuda {

int CudaBackend::fork_lanes(int n) {
    activate();
    if (open_lanes_ > 0) fail(ErrorCode::InvalidArgument, name(), ": lanes forked twice");
    n = std::clamp(n, 1, CachingAllocator::kMaxLanes);
    if (allocator_.capturing()) n = 1;
    while (static_cast<int>(lanes_.size()) < n) add_lane();
    // Every lane starts after all the work queued so far (on lane 0: outside a fork it is current).
    FERRIS_CUDA_CHECK(cudaEventRecord(lanes_[0].event, lanes_[0].stream));
    for (int i = 1; i < n; ++i)
        FERRIS_CUDA_CHECK(
            cudaStreamWaitEvent(lanes_[static_cast<size_t>(i)].stream, lanes_[0].event, 0));
    allocator_.fork(n);
    open_lanes_ = n;
    return n;
}

void CudaBackend::use_lane(int lane) {
    if (lane < 0 || lane >= std::max(open_lanes_, 1))
        fail(ErrorCode::InvalidArgument, name(), ": lane ", lane, " of ", std::max(open_lanes_, 1));
    if (lane == lane_) return;
    stream_ = lanes_[static_cast<size_t>(lane)].stream;
    lane_ = lane;
    allocator_.use_lane(lane);
}

void CudaBackend::join_lanes() {
    if (open_lanes_ == 0) return;
    activate();
    use_lane(0);
    // Lane 0 (where all later work goes until the next fork) waits for every other lane.
    for (int i = 1; i < open_lanes_; ++i) {
        Lane& lane = lanes_[static_cast<size_t>(i)];
        FERRIS_CUDA_CHECK(cudaEventRecord(lane.event, lane.stream));
        FERRIS_CUDA_CHECK(cudaStreamWaitEvent(lanes_[0].stream, lane.event, 0));
    }
    open_lanes_ = 0;
    allocator_.join();
}

}  // namespace ferris::cuda
