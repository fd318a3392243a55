// MappedFile: RAII read-only memory map of a whole file (MAP_PRIVATE, PROT_READ).
// The pages are read-only: writing through data() faults, so callers copy before mutating.
// An empty file is valid and has size 0 and no mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ferris::io {

class MappedFile {
public:
    // Throws Error(Io) naming the path and the system error (missing, directory, permission).
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return static_cast<const uint8_t*>(data_); }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    void* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace ferris::io
