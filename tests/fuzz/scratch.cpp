// The fuzz targets' scratch folder (one a process, under $TMPDIR or /tmp, removed at exit) and
// their reports.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fuzz_target.h"

namespace fs = std::filesystem;

namespace ferris::fuzz {
namespace {

const fs::path& scratch_root() {
    static const fs::path root = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferris-fuzz-XXXXXX";
        if (!mkdtemp(pattern.data())) {
            std::perror("ferris fuzz: mkdtemp");
            std::abort();
        }
        std::atexit([] {
            std::error_code ignored;
            fs::remove_all(scratch_root(), ignored);
        });
        return fs::path(pattern);
    }();
    return root;
}

}  // namespace

std::string fresh_scratch_dir() {
    const fs::path& root = scratch_root();
    for (const auto& entry : fs::directory_iterator(root)) fs::remove_all(entry.path());
    return root.string();
}

std::string scratch_path(const std::string& name) { return (scratch_root() / name).string(); }

std::string write_scratch(const std::string& name, std::string_view bytes) {
    const fs::path path = scratch_path(name);
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
        std::fprintf(stderr, "ferris fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
    return path.string();
}

void show_error(const ferris::Error& e) {
    static const bool show = std::getenv("FERRIS_FUZZ_SHOW_ERRORS") != nullptr;
    if (show) std::fprintf(stderr, "refused: %s\n", e.what());
}

void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "ferris fuzz: invariant failed: %s\n", what);
    std::abort();
}

}  // namespace ferris::fuzz
