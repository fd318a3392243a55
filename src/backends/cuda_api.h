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

}  // namespace ferris::cuda
