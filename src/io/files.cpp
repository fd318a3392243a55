// File helpers on POSIX calls (so errors carry strerror) plus std::filesystem for paths.
// Atomic writes: mkstemp next to the target, write, fsync, rename, fsync the directory.
#include "io/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ferris/error.h"

namespace ferris::io {

namespace fs = std::filesystem;

namespace {

// The process umask without changing it (umask(2) can only be read by setting it, which races
// with other threads); Linux reports it in /proc/self/status.
mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Umask:", 0) == 0)
            return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8) & 0777);
    }
    return 022;
}

struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
};

}  // namespace

std::string read_text_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
    FdCloser closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(ErrorCode::Io, path, ": cannot stat: ", std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(ErrorCode::Io, path, ": is a directory, expected a file");
    if (!S_ISREG(st.st_mode)) fail(ErrorCode::Io, path, ": not a regular file");
    std::string out;
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(ErrorCode::Io, path, ": read failed: ", std::strerror(errno));
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
    AtomicFileWriter writer(path);
    writer.write(bytes);
    writer.commit();
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path), target_(path) {
    std::error_code ec;
    if (fs::is_symlink(path, ec)) {
        fs::path resolved = fs::weakly_canonical(path, ec);
        if (!ec) target_ = resolved.string();
    }
    fs::path target(target_);
    std::string name = target.filename().string();
    if (name.empty() || name == "." || name == "..") fail(ErrorCode::Io, path, ": not a file name");
    std::string dir = target.parent_path().string();
    if (dir.empty()) dir = ".";
    std::string templ = (fs::path(dir) / ("." + name + ".tmp.XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    fd_ = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd_ < 0)
        fail(ErrorCode::Io, path, ": cannot create a temporary file in ", dir, ": ",
             std::strerror(errno));
    temp_path_ = buf.data();
    // mkstemp makes 0600; give the file the mode a plain open() would (or the replaced file's).
    struct stat st {};
    mode_t mode = 0666 & ~current_umask();
    if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
    if (::fchmod(fd_, mode) != 0) {
        int err = errno;
        discard();
        fail(ErrorCode::Io, path, ": cannot set permissions of ", temp_path_, ": ",
             std::strerror(err));
    }
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
    if (fd_ < 0) fail(ErrorCode::InvalidArgument, path_, ": write after commit or failure");
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        size_t chunk = bytes < (size_t{1} << 30) ? bytes : (size_t{1} << 30);
        ssize_t n = ::write(fd_, p, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            std::string temp = temp_path_;
            discard();
            fail(ErrorCode::Io, path_, ": write to ", temp, " failed after ", written_,
                 " bytes: ", std::strerror(err));
        }
        p += n;
        bytes -= static_cast<size_t>(n);
        written_ += static_cast<size_t>(n);
    }
}

void AtomicFileWriter::commit() {
    if (fd_ < 0) fail(ErrorCode::InvalidArgument, path_, ": commit after commit or failure");
    auto fail_with = [&](const char* what, int err) {
        std::string temp = temp_path_;
        discard();
        fail(ErrorCode::Io, path_, ": ", what, " ", temp, " failed: ", std::strerror(err));
    };
    if (::fsync(fd_) != 0) fail_with("fsync of", errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_with("close of", errno);
    if (::rename(temp_path_.c_str(), target_.c_str()) != 0) {
        int err = errno;
        std::string temp = temp_path_;
        discard();
        fail(ErrorCode::Io, path_, ": cannot rename ", temp, " over it: ", std::strerror(err));
    }
    temp_path_.clear();
    // Make the rename itself durable; a failure here leaves a complete file, so it is ignored.
    std::string dir = fs::path(target_).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

bool path_exists(const std::string& path) {
    std::error_code ec;
    return fs::exists(path, ec);
}

bool is_directory(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec);
}

std::string join_path(const std::string& a, const std::string& b) {
    return (fs::path(a) / b).string();
}

}  // namespace ferris::io
