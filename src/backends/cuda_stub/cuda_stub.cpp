// Built without FERRIS_CUDA: every CUDA entry point reports that CUDA is not built in, so the
// callers compile and run unchanged and `--device cuda` is a clear error.
#include "backends/cuda_api.h"
#include "ferris/error.h"

namespace ferris::cuda {

Backend& cuda_backend(int index) {
    fail(ErrorCode::Unsupported, "cuda:", index, ": built without FERRIS_CUDA");
}

int device_count(std::string* reason) {
    if (reason) *reason = "built without FERRIS_CUDA";
    return 0;
}

std::string device_name(int) { return "none"; }

DeviceMemory device_memory(int) { return {}; }

}  // namespace ferris::cuda
