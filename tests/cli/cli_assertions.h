// Assertions on a CliResult shared by the CLI tests: ended cleanly (no crash, hang or sanitizer
// report), failed with one "error: " line, a usage error, or JSON on stdout.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace ferris::test::assertions {

using json = nlohmann::json;

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Ended by itself in time, with no sanitizer report.
inline ::testing::AssertionResult ended_cleanly(const CliResult& r) {
    if (r.timed_out) return ::testing::AssertionFailure() << "hang: " << r.describe();
    if (!r.exited) return ::testing::AssertionFailure() << "crash: " << r.describe();
    for (const char* s : {"Sanitizer", "runtime error:", "terminate called"})
        if (contains(r.err, s))
            return ::testing::AssertionFailure() << "'" << s << "' on stderr: " << r.describe();
    return ::testing::AssertionSuccess();
}

// Exit 1 with exactly one "error: " line on stderr holding every needle, and nothing on stdout.
inline ::testing::AssertionResult fails_with(const CliResult& r,
                                             std::initializer_list<std::string> needles) {
    if (auto clean = ended_cleanly(r); !clean) return clean;
    if (r.exit_code != 1) return ::testing::AssertionFailure() << "want exit 1: " << r.describe();
    const std::vector<std::string> lines = r.error_lines();
    if (lines.size() != 1)
        return ::testing::AssertionFailure()
               << lines.size() << " 'error: ' lines, want 1: " << r.describe();
    for (const std::string& n : needles)
        if (!contains(lines[0], n))
            return ::testing::AssertionFailure() << "error line lacks '" << n << "': " << lines[0];
    if (!r.out.empty())
        return ::testing::AssertionFailure() << "stdout not empty: " << r.describe();
    return ::testing::AssertionSuccess();
}

// Exit 2 (usage) with every needle somewhere on stderr.
inline ::testing::AssertionResult usage_error(const CliResult& r,
                                              std::initializer_list<std::string> needles) {
    if (auto clean = ended_cleanly(r); !clean) return clean;
    if (r.exit_code != 2) return ::testing::AssertionFailure() << "want exit 2: " << r.describe();
    for (const std::string& n : needles)
        if (!contains(r.err, n))
            return ::testing::AssertionFailure() << "stderr lacks '" << n << "': " << r.describe();
    return ::testing::AssertionSuccess();
}

// Exit 0; returns stdout parsed as JSON.
inline json json_output(const CliResult& r) {
    EXPECT_TRUE(ended_cleanly(r));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    try {
        return json::parse(r.out);
    } catch (const json::exception& e) {
        ADD_FAILURE() << "stdout is not JSON (" << e.what() << "): " << r.describe();
        return json();
    }
}

}  // namespace ferris::test::assertions
