// Names of error codes, for messages and the server's JSON error bodies.
#include "ferris/error.h"

namespace ferris {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return "invalid_argument";
        case ErrorCode::ShapeMismatch:
            return "shape_mismatch";
        case ErrorCode::DTypeMismatch:
            return "dtype_mismatch";
        case ErrorCode::Unsupported:
            return "unsupported";
        case ErrorCode::OutOfMemory:
            return "out_of_memory";
        case ErrorCode::Io:
            return "io";
        case ErrorCode::Parse:
            return "parse";
        case ErrorCode::Backend:
            return "backend";
        case ErrorCode::Internal:
            return "internal";
    }
    return "unknown";
}

}  // namespace ferris
