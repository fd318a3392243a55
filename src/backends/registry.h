// Finding backends: the CPU backend always, the CUDA backend when built with FERRIS_CUDA.
#pragma once

#include <string>

#include "ferris/device.h"

namespace ferris {

class Backend;

Backend& backend_for(Device device);  // throws Unsupported for devices not built in
// Number of usable CUDA cards; 0 with `reason` set when none (no driver, no card, not built).
int cuda_device_count(std::string* reason);
std::string cuda_device_name(int index);

}  // namespace ferris
