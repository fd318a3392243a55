// Where a tensor lives. CPU is always there; CUDA exists when built with FERRIS_CUDA and a card.
#pragma once

#include <cstdint>
#include <string>

namespace ferris {

enum class DeviceKind : uint8_t { CPU, CUDA };

struct Device {
    DeviceKind kind = DeviceKind::CPU;
    int index = 0;

    static Device cpu() { return {}; }
    static Device cuda(int index = 0) { return {DeviceKind::CUDA, index}; }
    bool is_cpu() const { return kind == DeviceKind::CPU; }
    bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
    std::string str() const;  // "cpu", "cuda:0"
};

// What --device asked for: "cpu", "cuda", "cuda:N" or "auto".
struct DeviceRequest {
    bool automatic = true;
    Device device;
};
DeviceRequest parse_device(const std::string& text);  // throws InvalidArgument

// Resolves a request: auto picks CUDA when built with it and a card is present, else CPU.
// `notice` receives a one-line explanation of the choice for the user (may be empty).
Device resolve_device(const DeviceRequest& request, std::string* notice);

}  // namespace ferris
