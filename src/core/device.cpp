// Device names, --device parsing and the auto choice (CUDA when built with it and present).
#include "ferris/device.h"

#include <cstdlib>

#include "backends/registry.h"
#include "ferris/error.h"

namespace ferris {

std::string Device::str() const {
    return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceRequest parse_device(const std::string& text) {
    if (text == "auto") return {};
    if (text == "cpu") return {false, Device::cpu()};
    if (text == "cuda") return {false, Device::cuda(0)};
    if (text.rfind("cuda:", 0) == 0) {
        const std::string n = text.substr(5);
        char* end = nullptr;
        long index = std::strtol(n.c_str(), &end, 10);
        if (!n.empty() && *end == '\0' && index >= 0 && index < 1024)
            return {false, Device::cuda(static_cast<int>(index))};
    }
    fail(ErrorCode::InvalidArgument, "unknown device '", text,
         "' (expected cpu, cuda, cuda:N or auto)");
}

Device resolve_device(const DeviceRequest& request, std::string* notice) {
    std::string reason;
    int cards = cuda_device_count(&reason);
    if (request.automatic) {
        if (cards > 0) {
            if (notice) *notice = "using cuda:0 (" + cuda_device_name(0) + ")";
            return Device::cuda(0);
        }
        if (notice) *notice = "using cpu (" + reason + ")";
        return Device::cpu();
    }
    if (request.device.is_cpu()) return Device::cpu();
    if (cards <= 0) fail(ErrorCode::Unsupported, "--device ", request.device.str(), ": ", reason);
    if (request.device.index >= cards)
        fail(ErrorCode::InvalidArgument, "--device ", request.device.str(), ": only ", cards,
             " CUDA device(s) present");
    return request.device;
}

}  // namespace ferris
