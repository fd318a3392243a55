// ferris::Error — the one exception type of the library. Messages name the op or file and say
// expected vs got; the code lets the CLI and server map failures to exit codes / HTTP statuses.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ferris {

enum class ErrorCode {
    InvalidArgument,
    ShapeMismatch,
    DTypeMismatch,
    Unsupported,
    OutOfMemory,
    Io,
    Parse,
    Backend,
    Internal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const { return code_; }

private:
    ErrorCode code_;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename T, typename... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
    os << first;
    append_all(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable parts: fail(ErrorCode::Io, path, ": ", "truncated").
template <typename... Parts>
[[noreturn]] void fail(ErrorCode code, const Parts&... parts) {
    std::ostringstream os;
    detail::append_all(os, parts...);
    throw Error(code, os.str());
}

}  // namespace ferris

// Invariants that only a bug can break (never user input).
#define FERRIS_ASSERT(cond, ...)                                                         \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ::ferris::fail(::ferris::ErrorCode::Internal, __FILE__, ":", __LINE__,       \
                           ": assertion failed: " #cond " " __VA_OPT__(, ) __VA_ARGS__); \
    } while (0)
