// Backend lookup by device. CUDA entry points come from backends/cuda (FERRIS_CUDA) or the stub.
#include "backends/registry.h"

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda_api.h"

namespace ferris {

Backend& backend_for(Device device) {
    if (device.is_cpu()) return cpu::cpu_backend();
    return cuda::cuda_backend(device.index);
}

int cuda_device_count(std::string* reason) { return cuda::device_count(reason); }

std::string cuda_device_name(int index) { return cuda::device_name(index); }

}  // namespace ferris
