// Small file helpers: whole-file reads, atomic writes (temp file in the same directory, fsync,
// rename, so a failed write never leaves a half-written target) and path queries.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferris::io {

// The whole file as bytes; throws Error(Io) naming the path.
std::string read_text_file(const std::string& path);

// Replaces `path` with `bytes` atomically; throws Error(Io) naming the path and leaves neither
// a temporary file nor a changed target behind on failure.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Streams a file into `.<name>.tmp.XXXXXX` next to `path`; commit() fsyncs and renames it over
// `path`. Destroyed without commit() (an exception mid-way), the temporary file is removed.
// A symlink at `path` is followed: its target is replaced, the link stays.
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(const std::string& path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, size_t bytes);
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
    void commit();
    size_t bytes_written() const { return written_; }
    const std::string& path() const { return path_; }
    const std::string& temp_path() const { return temp_path_; }

private:
    void discard();  // closes and removes the temporary file; never throws

    std::string path_;       // as given, for messages
    std::string target_;     // what rename() replaces (path_ with a symlink resolved)
    std::string temp_path_;  // empty once committed or discarded
    int fd_ = -1;
    size_t written_ = 0;
};

bool path_exists(const std::string& path);   // false on any error (e.g. permission)
bool is_directory(const std::string& path);  // follows symlinks
// "a" + "b" -> "a/b"; an absolute `b` or an empty `a` gives `b`.
std::string join_path(const std::string& a, const std::string& b);

}  // namespace ferris::io
