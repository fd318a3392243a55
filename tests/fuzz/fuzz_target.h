// What every fuzz target shares. A target is one fuzz_<name>.cpp defining LLVMFuzzerTestOneInput;
// libFuzzer calls it in the fuzz preset, replay_main.cpp over corpus/<name>/ everywhere else.
// Bad input must end in a ferris::Error (the library's one exception type, which the CLI turns
// into one error line); any other exception escapes the target, and libFuzzer reports it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ferris/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ferris::fuzz {

// The path of `name` in this process' scratch folder (made once, removed at exit).
std::string scratch_path(const std::string& name);
// `bytes` written to scratch_path(name); that path. Names may hold folders
// ("1_Pooling/config.json"), made as needed.
std::string write_scratch(const std::string& name, std::string_view bytes);
// The scratch folder itself, emptied of what earlier inputs wrote there.
std::string fresh_scratch_dir();

// Prints a refused input's error when FERRIS_FUZZ_SHOW_ERRORS is set (to see what seeds reach).
void show_error(const ferris::Error& e);

// Runs `body`; a ferris::Error is the expected answer to bad input and is swallowed.
template <typename Body>
void expect_only_ferris_errors(Body&& body) {
    try {
        body();
    } catch (const ferris::Error& e) {
        show_error(e);
    }
}

// Aborts with `what` when `ok` is false: an invariant of accepted input that did not hold.
void require(bool ok, const char* what);

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ferris::fuzz
