// What the rest of Ferris needs from the CUDA backend. Implemented by backends/cuda (when built
// with FERRIS_CUDA) or by backends/cuda_stub, which reports that CUDA is not built in.
#pragma once

#include <string>

namespace ferris {
class Backend;
}

namespace ferris::cuda {

Backend& cuda_backend(int index);       // throws Unsupported in the stub
int device_count(std::string* reason);  // 0 and a reason when none is usable
std::string device_name(int index);

// Device memory as Ferris sees it: the peak and current bytes of its tensors (allocator buckets),
// the bytes cached for reuse, and what the driver reports used on the card (context included).
struct DeviceMemory {
    size_t peak_tensor_bytes = 0, tensor_bytes = 0, cached_bytes = 0, device_used_bytes = 0;
};
DeviceMemory device_memory(int index);  // zeros in the stub

}  // namespace ferris::cuda
