// io/files.h and io/mapped_file.h: whole-file reads, atomic writes that never leave a temporary
// file or a half-written target, the streaming writer, path helpers and MappedFile errors.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ferris/error.h"
#include "io/files.h"
#include "io/mapped_file.h"

namespace ferris::io {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
protected:
    FilesTest() {
        std::string templ = (fs::temp_directory_path() / "ferris_files_XXXXXX").string();
        dir_ = ::mkdtemp(templ.data());
    }
    ~FilesTest() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }
    static void put(const std::string& path, const std::string& bytes) {
        std::ofstream(path, std::ios::binary) << bytes;
    }
    static mode_t mode_of(const std::string& path) {
        struct stat st {};
        EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
        return st.st_mode & 07777;
    }
    // Runs fn, expecting Error(Io) whose message contains `part`.
    template <typename Fn>
    static void expect_io(Fn&& fn, const std::string& part) {
        try {
            fn();
            ADD_FAILURE() << "no error; expected Io mentioning " << part;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::Io) << e.what();
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    }

    std::string dir_;
};

TEST_F(FilesTest, ReadTextFileReturnsExactBytes) {
    const std::string bytes = std::string("line 1\nline 2\r\n\0binary\xff", 23);
    put(file("a.txt"), bytes);
    EXPECT_EQ(read_text_file(file("a.txt")), bytes);
    put(file("empty.txt"), "");
    EXPECT_EQ(read_text_file(file("empty.txt")), "");
    const std::string big(300000, 'x');  // more than one read() chunk
    put(file("big.txt"), big);
    EXPECT_EQ(read_text_file(file("big.txt")), big);
}

TEST_F(FilesTest, ReadTextFileErrorsNameThePath) {
    expect_io([&] { read_text_file(file("missing.txt")); }, "missing.txt: cannot open: No such");
    expect_io([&] { read_text_file(dir_); }, dir_ + ": is a directory");
    ASSERT_EQ(::mkfifo(file("fifo").c_str(), 0600), 0);
    expect_io([&] { read_text_file(file("fifo")); }, "fifo: not a regular file");
}

TEST_F(FilesTest, WriteFileAtomicCreatesAndReplaces) {
    const std::string path = file("out.json");
    write_file_atomic(path, "first");
    EXPECT_EQ(read_text_file(path), "first");
    write_file_atomic(path, std::string("second\0x", 8));
    EXPECT_EQ(read_text_file(path), std::string("second\0x", 8));
    write_file_atomic(path, "");
    EXPECT_EQ(read_text_file(path), "");
    EXPECT_EQ(entries(), std::vector<std::string>{"out.json"});
}

TEST_F(FilesTest, WriteFileAtomicKeepsModeOfReplacedFileAndUsesUmaskForNewOnes) {
    const std::string path = file("keep.txt");
    put(path, "old");
    ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
    write_file_atomic(path, "new");
    EXPECT_EQ(mode_of(path), 0640u);

    const mode_t old_mask = ::umask(027);
    write_file_atomic(file("fresh.txt"), "x");
    ::umask(old_mask);
    EXPECT_EQ(mode_of(file("fresh.txt")), 0640u);  // 0666 & ~027, not mkstemp's 0600
}

TEST_F(FilesTest, WriteFileAtomicIntoMissingDirectoryLeavesNothing) {
    const std::string path = file("no/such/dir/out.json");
    expect_io([&] { write_file_atomic(path, "data"); }, path);
    expect_io([&] { write_file_atomic(path, "data"); }, "No such file or directory");
    EXPECT_TRUE(entries().empty());
}

TEST_F(FilesTest, WriteFileAtomicOverADirectoryFailsAndCleansUp) {
    fs::create_directory(file("sub"));
    put(file("sub/inner.txt"), "keep");
    expect_io([&] { write_file_atomic(file("sub"), "data"); }, file("sub"));
    EXPECT_TRUE(is_directory(file("sub")));
    EXPECT_EQ(read_text_file(file("sub/inner.txt")), "keep");
    EXPECT_EQ(entries(), std::vector<std::string>{"sub"});
    expect_io([&] { write_file_atomic(dir_ + "/", "data"); }, "not a file name");
}

TEST_F(FilesTest, WriteFileAtomicFollowsASymlink) {
    put(file("real.txt"), "old");
    fs::create_symlink("real.txt", file("link.txt"));
    write_file_atomic(file("link.txt"), "new");
    EXPECT_TRUE(fs::is_symlink(file("link.txt")));
    EXPECT_EQ(read_text_file(file("real.txt")), "new");
}

TEST_F(FilesTest, AtomicFileWriterStreamsAndCommits) {
    const std::string path = file("stream.bin");
    put(path, "old content");
    {
        AtomicFileWriter writer(path);
        EXPECT_EQ(fs::path(writer.temp_path()).parent_path(), fs::path(dir_));
        EXPECT_EQ(fs::path(writer.temp_path()).filename().string().rfind(".stream.bin.tmp.", 0), 0u)
            << writer.temp_path();
        writer.write("abc");
        writer.write(std::string(100000, 'z'));
        writer.write("\0", 1);
        EXPECT_EQ(writer.bytes_written(), 100004u);
        EXPECT_EQ(read_text_file(path), "old content");  // untouched until commit
        EXPECT_EQ(entries().size(), 2u);
        writer.commit();
    }
    EXPECT_EQ(read_text_file(path), "abc" + std::string(100000, 'z') + std::string(1, '\0'));
    EXPECT_EQ(entries(), std::vector<std::string>{"stream.bin"});
}

TEST_F(FilesTest, AtomicFileWriterWithoutCommitRemovesTheTemporaryFile) {
    const std::string path = file("model.bin");
    put(path, "precious");
    try {
        AtomicFileWriter writer(path);
        writer.write("half of the new");
        throw std::runtime_error("failure mid-way");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(read_text_file(path), "precious");
    EXPECT_EQ(entries(), std::vector<std::string>{"model.bin"});
}

TEST_F(FilesTest, AtomicFileWriterRefusesUseAfterCommit) {
    AtomicFileWriter writer(file("x"));
    writer.commit();
    EXPECT_THROW(writer.write("late"), Error);
    EXPECT_THROW(writer.commit(), Error);
    EXPECT_EQ(read_text_file(file("x")), "");
}

TEST_F(FilesTest, PathHelpers) {
    put(file("f"), "");
    EXPECT_TRUE(path_exists(file("f")));
    EXPECT_TRUE(path_exists(dir_));
    EXPECT_FALSE(path_exists(file("nope")));
    EXPECT_FALSE(is_directory(file("f")));
    EXPECT_TRUE(is_directory(dir_));
    EXPECT_FALSE(is_directory(file("nope")));
    fs::create_directory_symlink(dir_, file("dlink"));
    EXPECT_TRUE(is_directory(file("dlink")));
    EXPECT_EQ(join_path("a", "b.json"), "a/b.json");
    EXPECT_EQ(join_path("a/", "b.json"), "a/b.json");
    EXPECT_EQ(join_path("", "b.json"), "b.json");
    EXPECT_EQ(join_path("a", "/abs/b"), "/abs/b");
}

TEST_F(FilesTest, MappedFileMapsTheWholeFile) {
    const std::string bytes = "0123456789" + std::string(70000, 'q');
    put(file("m.bin"), bytes);
    MappedFile map(file("m.bin"));
    ASSERT_EQ(map.size(), bytes.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(map.data()), map.size()), bytes);
    EXPECT_EQ(map.path(), file("m.bin"));

    put(file("empty.bin"), "");
    MappedFile empty(file("empty.bin"));
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_EQ(empty.data(), nullptr);
}

TEST_F(FilesTest, MappedFileErrorsNameThePath) {
    expect_io([&] { MappedFile m(file("absent.bin")); }, "absent.bin: cannot open: No such");
    expect_io([&] { MappedFile m(dir_); }, dir_ + ": is a directory");
    ASSERT_EQ(::mkfifo(file("pipe").c_str(), 0600), 0);
    expect_io([&] { MappedFile m(file("pipe")); }, "pipe: not a regular file");
}

TEST_F(FilesTest, MappedFileWithoutReadPermission) {
    put(file("secret.bin"), "x");
    ASSERT_EQ(::chmod(file("secret.bin").c_str(), 0), 0);
    if (::geteuid() == 0) GTEST_SKIP() << "root reads files without permission";
    expect_io([&] { MappedFile m(file("secret.bin")); }, "secret.bin: cannot open: Permission");
}

}  // namespace
}  // namespace ferris::io
