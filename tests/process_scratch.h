// A folder under the temp directory named for this test process and removed when the process
// ends normally: for a model that a suite writes once and its tests share. ctest runs each test
// in a process of its own, so a folder left behind is one more a test (the parity suites' models
// are ~100 MB a ctest run, and piled up to tens of GB on a developer's machine).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace ferris::test_support {

inline std::string process_scratch_dir(const std::string& name) {
    namespace fs = std::filesystem;
    struct Owned {
        std::mutex mutex;
        std::vector<fs::path> paths;
        ~Owned() {
            for (const fs::path& p : paths) {
                std::error_code ec;
                fs::remove_all(p, ec);
            }
        }
    };
    static Owned owned;
    const fs::path path = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
    std::lock_guard<std::mutex> lock(owned.mutex);
    bool known = false;
    for (const fs::path& p : owned.paths) known = known || p == path;
    if (!known) owned.paths.push_back(path);
    return path.string();
}

}  // namespace ferris::test_support
