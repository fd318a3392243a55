// MappedFile: open, fstat, mmap, close the descriptor (the mapping keeps the file alive).
// Opened with O_NONBLOCK so a FIFO fails the regular-file check instead of blocking. No
// MADV_WILLNEED: listing a checkpoint's header must not read gigabytes of weights.
#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ferris/error.h"

namespace ferris::io {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        fail(ErrorCode::Io, path, ": cannot stat: ", std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        fail(ErrorCode::Io, path, ": is a directory, expected a file");
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(ErrorCode::Io, path, ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        return;
    }
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (p == MAP_FAILED)
        fail(ErrorCode::Io, path, ": cannot mmap ", size_, " bytes: ", std::strerror(err));
    data_ = p;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(data_, size_);
}

}  // namespace ferris::io
