// safetensors reader/writer: round trips, a file written by the Python library (bytes captured
// from safetensors 0.8.0), every header corruption the reader must name, sharded checkpoints,
// atomic saves and a truncation/corruption robustness sweep (run under ASan/UBSan).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ferris/safetensors.h"
#include "io/files.h"

namespace ferris::io {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "ferris_st_XXXXXX").string();
        path_ = ::mkdtemp(templ.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
    const std::string& path() const { return path_; }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    std::string path_;
};

std::string read_bytes(const std::string& path) { return read_text_file(path); }

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

std::string u64_le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A file from a header text (used as is, no padding) and a data section.
std::string make_file(const std::string& header, const std::string& data) {
    return u64_le(header.size()) + header + data;
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

// Runs fn, expecting a ferris::Error with `code` whose message contains every part.
void expect_error(const std::function<void()>& fn, ErrorCode code,
                  std::initializer_list<std::string> parts) {
    try {
        fn();
    } catch (const Error& e) {
        EXPECT_EQ(error_code_name(e.code()), std::string(error_code_name(code))) << e.what();
        for (const std::string& part : parts)
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
                << "message \"" << e.what() << "\" lacks \"" << part << "\"";
        return;
    }
    ADD_FAILURE() << "expected an Error(" << error_code_name(code) << ")";
}

bool same_bytes(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
    Tensor ca = a.contiguous(), cb = b.contiguous();
    return ca.nbytes() == cb.nbytes() && std::memcmp(ca.raw(), cb.raw(), ca.nbytes()) == 0;
}

Tensor i64_tensor(const Shape& shape, const std::vector<int64_t>& values) {
    Tensor t = Tensor::empty(shape, DType::I64);
    std::memcpy(t.raw(), values.data(), values.size() * 8);
    return t;
}

NamedTensors sample_tensors() {
    Tensor f32 = Tensor::from_floats({2, 3}, {1.0f, -2.5f, 3.25f, 1e-30f, -0.0f, 65504.0f});
    std::memcpy(f32.data<float>() + 3, "\x01\x00\xc0\x7f", 4);  // a NaN payload survives
    return {
        {"model.embed.weight", f32},
        {"half", Tensor::from_floats({4}, {0.5f, -1.0f, 2048.0f, 1e-3f}, DType::F16)},
        {"bf", Tensor::from_floats({3, 1, 2}, {1, 2, 3, -4, 5.5f, 1e20f}, DType::BF16)},
        {"ids", Tensor::from_ints({5}, {0, -1, 2147483647, -2147483647 - 1, 42})},
        {"longs", i64_tensor({2, 2}, {int64_t{1} << 62, -3, 0, 9})},
        {"empty", Tensor::zeros({0, 3}, DType::F32)},
        {"scalar", Tensor::from_floats({}, {7.0f})},
    };
}

TEST(Safetensors, RoundTripKeepsDtypesShapesAndBytes) {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    NamedTensors tensors = sample_tensors();
    save_safetensors(path, tensors);

    auto file = SafetensorsFile::open(path);
    ASSERT_EQ(file->tensors().size(), tensors.size());
    EXPECT_TRUE(file->metadata().empty());
    for (const auto& [name, expected] : tensors) {
        const TensorInfo* info = file->find(name);
        ASSERT_NE(info, nullptr) << name;
        EXPECT_EQ(info->shape, expected.shape()) << name;
        EXPECT_EQ(info->file, path);
        Tensor got = file->get(name);
        EXPECT_TRUE(same_bytes(got, expected)) << name << ": " << got.describe();
        EXPECT_TRUE(got.is_contiguous());
    }
    EXPECT_EQ(file->find("half")->dtype_name, "F16");
    EXPECT_EQ(file->find("bf")->dtype_name, "BF16");
    EXPECT_EQ(file->find("ids")->dtype_name, "I32");
    EXPECT_EQ(file->find("longs")->dtype_name, "I64");
    EXPECT_EQ(file->find("scalar")->dtype_name, "F32");
    EXPECT_EQ(file->get("scalar").numel(), 1);
    EXPECT_EQ(file->get("empty").numel(), 0);
    EXPECT_EQ(file->find("absent"), nullptr);

    // The data section starts on an 8-byte boundary; the padding is spaces, no metadata key.
    const std::string bytes = read_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ((8 + n) % 8, 0u);
    const std::string header = bytes.substr(8, n);
    EXPECT_EQ(header.find("__metadata__"), std::string::npos);
    EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
}

TEST(Safetensors, DataIsLaidOutInTheGivenOrder) {
    TempDir dir;
    const std::string path = dir.file("order.safetensors");
    save_safetensors(path, {{"z", Tensor::from_floats({2}, {1, 2})},
                            {"a", Tensor::from_floats({3}, {3, 4, 5})},
                            {"m", Tensor::from_ints({1}, {6})}});
    auto file = SafetensorsFile::open(path);
    EXPECT_EQ(file->find("z")->begin, 0u);
    EXPECT_EQ(file->find("a")->begin, 8u);
    EXPECT_EQ(file->find("m")->begin, 20u);
    EXPECT_EQ(file->find("m")->end, 24u);
    const std::string bytes = read_bytes(path);
    EXPECT_LT(bytes.find("\"z\""), bytes.find("\"a\""));
    EXPECT_LT(bytes.find("\"a\""), bytes.find("\"m\""));
}

TEST(Safetensors, HeaderIsPaddedWithSpacesToEightBytes) {
    TempDir dir;
    for (size_t len = 1; len <= 8; ++len) {  // header lengths covering every remainder mod 8
        const std::string path = dir.file("p.safetensors");
        save_safetensors(path, {{std::string(len, 'w'), Tensor::from_floats({1}, {2.0f})}});
        const std::string bytes = read_bytes(path);
        uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8);
        EXPECT_EQ((8 + n) % 8, 0u) << "name length " << len;
        const std::string header = bytes.substr(8, n);
        EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
        EXPECT_LT(n - header.find_last_of('}'), 9u);
        EXPECT_EQ(bytes.size(), 8 + n + 4);
    }
}

TEST(Safetensors, NonContiguousTensorsAreSavedAsTheirValues) {
    TempDir dir;
    Tensor full = Tensor::from_floats({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    Tensor column = full.narrow(1, 1, 2);  // (3, 2), strides (4, 1)
    ASSERT_FALSE(column.is_contiguous());
    save_safetensors(dir.file("v.safetensors"), {{"col", column}});
    Tensor got = SafetensorsFile::open(dir.file("v.safetensors"))->get("col");
    EXPECT_EQ(got.to_floats(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
}

TEST(Safetensors, MetadataRoundTrips) {
    TempDir dir;
    const std::map<std::string, std::string> meta = {
        {"format", "pt"}, {"note", "quotes \" and\nnewlines, \xc3\xa9"}, {"empty", ""}};
    save_safetensors(dir.file("m.safetensors"), {{"x", Tensor::from_floats({1}, {1})}}, meta);
    auto file = SafetensorsFile::open(dir.file("m.safetensors"));
    EXPECT_EQ(file->metadata(), meta);
}

TEST(Safetensors, ViewsAreZeroCopyAndOutliveTheFile) {
    TempDir dir;
    save_safetensors(dir.file("a.safetensors"), sample_tensors());
    auto file = SafetensorsFile::open(dir.file("a.safetensors"));
    Tensor a = file->get("model.embed.weight");
    Tensor b = file->get("model.embed.weight");
    EXPECT_EQ(a.raw(), b.raw());  // both point into the one mapping
    Tensor half = file->get("half");
    file.reset();
    fs::remove(dir.file("a.safetensors"));
    EXPECT_EQ(half.to_floats(),
              Tensor::from_floats({4}, {0.5f, -1.0f, 2048.0f, 1e-3f}, DType::F16).to_floats());
    EXPECT_EQ(a.to_floats()[0], 1.0f);
}

// Captured from Python (safetensors 0.8.0, torch 2.11): save_file({"weight": f32 [[1.5, -2],
// [0.25, 3]], "bias": bf16 [1, -0.5, 2], "ids": i64 [7, -1], "empty": f16 zeros (0, 3),
// "scalar": f32 4.0}, metadata={"format": "pt"}). The library sorts by alignment, then name.
std::string python_written_file() {
    const std::string header =
        "{\"__metadata__\":{\"format\":\"pt\"},\"ids\":{\"dtype\":\"I64\",\"shape\":[2],"
        "\"data_offsets\":[0,16]},\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":"
        "[16,20]},\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[20,36]},"
        "\"bias\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[36,42]},\"empty\":{"
        "\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[42,42]}}       ";
    return from_hex("5001000000000000") + header +
           from_hex(
               "0700000000000000ffffffffffffffff000080400000c03f000000c00000803e0000404080"
               "3f00bf0040");
}

TEST(Safetensors, ReadsAFileWrittenByThePythonLibrary) {
    TempDir dir;
    const std::string bytes = python_written_file();
    ASSERT_EQ(bytes.size(), 386u);  // as Python wrote it
    write_bytes(dir.file("py.safetensors"), bytes);
    auto file = SafetensorsFile::open(dir.file("py.safetensors"));
    EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
    EXPECT_EQ(file->tensors().size(), 5u);

    Tensor weight = file->get("weight");
    EXPECT_EQ(weight.dtype(), DType::F32);
    EXPECT_EQ(weight.shape(), (Shape{2, 2}));
    EXPECT_EQ(weight.to_floats(), (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f}));
    Tensor bias = file->get("bias");  // at byte 36 + 344: aligned for BF16
    EXPECT_EQ(bias.dtype(), DType::BF16);
    EXPECT_EQ(bias.to_floats(), (std::vector<float>{1.0f, -0.5f, 2.0f}));
    Tensor ids = file->get("ids");
    EXPECT_EQ(ids.dtype(), DType::I64);
    EXPECT_EQ(ids.data<int64_t>()[0], 7);
    EXPECT_EQ(ids.data<int64_t>()[1], -1);
    Tensor scalar = file->get("scalar");
    EXPECT_EQ(scalar.shape(), Shape{});
    EXPECT_EQ(scalar.to_floats(), std::vector<float>{4.0f});
    Tensor empty = file->get("empty");
    EXPECT_EQ(empty.dtype(), DType::F16);
    EXPECT_EQ(empty.shape(), (Shape{0, 3}));
}

TEST(Safetensors, MisalignedDataIsCopiedToAlignedMemory) {
    TempDir dir;
    // An odd header length puts the data section at an odd offset from the page-aligned map.
    std::string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    header.append(header.size() % 2 ? 0 : 1, ' ');
    float values[2] = {3.5f, -1.25f};
    write_bytes(dir.file("odd.safetensors"),
                make_file(header, std::string(reinterpret_cast<char*>(values), 8)));
    Tensor x = SafetensorsFile::open(dir.file("odd.safetensors"))->get("x");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(x.raw()) % alignof(float), 0u);
    EXPECT_EQ(x.to_floats(), (std::vector<float>{3.5f, -1.25f}));
}

TEST(Safetensors, OtherDtypesAreListedButGetIsUnsupported) {
    TempDir dir;
    const std::string header =
        "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[8,10]},"
        "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[10,12]},"
        "\"p\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[12,14]}}";
    const std::string path = dir.file("other.safetensors");
    write_bytes(path, make_file(header, std::string(14, '\0')));
    auto file = SafetensorsFile::open(path);
    EXPECT_EQ(file->find("d")->dtype_name, "F64");
    expect_error([&] { file->get("d"); }, ErrorCode::Unsupported,
                 {"other.safetensors", "'d'", "F64"});
    expect_error([&] { file->get("q"); }, ErrorCode::Unsupported, {"'q'", "F8_E4M3"});
    expect_error([&] { file->get("nope"); }, ErrorCode::InvalidArgument,
                 {"other.safetensors", "'nope'"});
}

// ---- corruption: each case names the file and the problem ----

class Corrupt : public ::testing::Test {
protected:
    // Writes a file from header text (no padding) and `data_bytes` zero bytes, then opens it.
    void expect_parse_error(const std::string& header, size_t data_bytes,
                            std::initializer_list<std::string> parts) {
        write_bytes(path_, make_file(header, std::string(data_bytes, '\0')));
        std::vector<std::string> all(parts);
        all.push_back("bad.safetensors");
        try {
            SafetensorsFile::open(path_);
            ADD_FAILURE() << "opened: " << header;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::Parse) << e.what();
            for (const std::string& part : all)
                EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
                    << "message \"" << e.what() << "\" lacks \"" << part << "\"";
        }
    }
    static std::string one(const std::string& entry) { return "{\"t\":" + entry + "}"; }

    TempDir dir_;
    std::string path_ = dir_.file("bad.safetensors");
};

TEST_F(Corrupt, TruncatedFiles) {
    TempDir src;
    save_safetensors(src.file("ok.safetensors"), sample_tensors());
    const std::string bytes = read_bytes(src.file("ok.safetensors"));
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);

    write_bytes(path_, "");
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "0 bytes", "too short"});
    write_bytes(path_, bytes.substr(0, 5));
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "5 bytes", "too short"});
    write_bytes(path_, bytes.substr(0, 8 + n / 2));
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "header length " + std::to_string(n), "exceeds file size"});
    write_bytes(path_, bytes.substr(0, bytes.size() - 1));
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "past the end of the data section"});
}

TEST_F(Corrupt, HeaderLengthLies) {
    const std::string header = one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}");
    std::string bytes = make_file(header, std::string(4, '\0'));
    std::memcpy(bytes.data(), u64_le(9'200'000'000'000'000'000ull).data(), 8);
    write_bytes(path_, bytes);
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "header length 9200000000000000000",
                  "exceeds file size " + std::to_string(bytes.size())});
    std::memcpy(bytes.data(), u64_le(~uint64_t{0}).data(), 8);
    write_bytes(path_, bytes);
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse, {"exceeds file size"});
    // Shorter than the real header: the JSON is cut.
    std::memcpy(bytes.data(), u64_le(header.size() - 3).data(), 8);
    write_bytes(path_, bytes);
    expect_error([&] { SafetensorsFile::open(path_); }, ErrorCode::Parse,
                 {"bad.safetensors", "not valid JSON"});
}

TEST_F(Corrupt, HeaderIsNotAJsonObject) {
    expect_parse_error("{\"t\": {\"dtype\": ", 0, {"not valid JSON", "parse error"});
    expect_parse_error("", 0, {"not valid JSON"});
    expect_parse_error("[1, 2]", 0, {"header is an array, expected a JSON object"});
    expect_parse_error("\"text\"", 0, {"header is a string"});
    expect_parse_error("{} trailing", 0, {"not valid JSON"});
    expect_parse_error("{\"t\": 3}", 0, {"'t'", "entry is a number"});
}

TEST_F(Corrupt, MissingOrMistypedFields) {
    expect_parse_error(one("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, {"'t'", "\"dtype\""});
    expect_parse_error(one("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, {"\"shape\""});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, {"\"data_offsets\""});
    expect_parse_error(one("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}"), 4,
                       {"\"dtype\" is a number, expected a string"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}"), 4,
                       {"\"shape\" is a string"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}"), 4,
                       {"data_offsets {}", "expected [begin, end]"});
}

TEST_F(Corrupt, UnknownDtype) {
    expect_parse_error(one("{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4,
                       {"'t'", "unknown dtype 'F33'", "BF16"});
    expect_parse_error(one("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4,
                       {"unknown dtype 'f32'"});
}

TEST_F(Corrupt, BadShapeDims) {
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}"), 4,
                       {"shape [2,-1]", "not a non-negative integer: -1"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), 4,
                       {"not a non-negative integer: 1.5"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}"), 8,
                       {"not a non-negative integer: \"2\""});
    expect_parse_error(
        one("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}"), 4,
        {"too many elements"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[18446744073709551615],"
                           "\"data_offsets\":[0,4]}"),
                       4, {"not a non-negative integer"});
}

TEST_F(Corrupt, BadDataOffsets) {
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}"), 8,
                       {"data_offsets [0,4,8]", "expected [begin, end]"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 8,
                       {"data_offsets [-4,0]"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}"), 8,
                       {"data_offsets [0,4.0]"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}"), 8,
                       {"[8, 4] begin > end"});
}

TEST_F(Corrupt, OffsetsPastTheEnd) {
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), 12,
                       {"'t'", "end 16", "past the end of the data section (12 bytes)"});
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[13,13]}"), 12,
                       {"end 13"});
}

TEST_F(Corrupt, SizeDoesNotMatchShape) {
    expect_parse_error(one("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}"), 24,
                       {"'t'", "shape (2, 3) of F32 needs 24 bytes", "[0, 20] hold 20"});
    expect_parse_error(one("{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}"), 4,
                       {"shape () of BF16 needs 2 bytes"});
    expect_parse_error(one("{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}"), 2,
                       {"not a whole number of bytes"});
}

TEST_F(Corrupt, OverlappingTensors) {
    expect_parse_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
        16, {"'a' [0, 16)", "'b' [8, 16)", "overlap"});
    // Contained in an earlier, longer tensor that is not its sorted neighbour.
    expect_parse_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
        "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}",
        36, {"overlap", "'a' [0, 32)"});
    // Identical ranges overlap; empty tensors anywhere do not.
    expect_parse_error(
        "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        4, {"overlap"});
    write_bytes(path_, make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                                 std::string(8, '\0')));
    EXPECT_EQ(SafetensorsFile::open(path_)->tensors().size(), 2u);
}

TEST_F(Corrupt, BadMetadataAndDuplicateNames) {
    expect_parse_error("{\"__metadata__\":{\"epoch\":3}}", 0,
                       {"__metadata__ 'epoch' is a number", "expected a string"});
    expect_parse_error("{\"__metadata__\":[\"a\"]}", 0, {"__metadata__ is an array"});
    expect_parse_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        8, {"names 'a' twice"});
}

TEST(Safetensors, OpenErrorsFromTheFileSystem) {
    TempDir dir;
    expect_error([&] { SafetensorsFile::open(dir.file("missing.safetensors")); }, ErrorCode::Io,
                 {"missing.safetensors", "No such file or directory"});
    expect_error([&] { SafetensorsFile::open(dir.path()); }, ErrorCode::Io,
                 {dir.path(), "is a directory"});
}

// ---- checkpoints ----

void write_index(const std::string& path, const std::string& weight_map) {
    write_bytes(path, "{\"metadata\":{\"total_size\":0},\"weight_map\":" + weight_map + "}");
}

TEST(Checkpoint, SingleFileDirectoryOrPath) {
    TempDir dir;
    save_safetensors(dir.file("model.safetensors"), sample_tensors());
    for (const std::string& where : {dir.path(), dir.file("model.safetensors")}) {
        Checkpoint ck = Checkpoint::open(where);
        EXPECT_EQ(ck.files().size(), 1u);
        std::vector<std::string> names = ck.names();
        EXPECT_EQ(names.size(), 7u);
        EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
        EXPECT_TRUE(ck.has("bf"));
        EXPECT_FALSE(ck.has("nope"));
        EXPECT_EQ(ck.info("ids").dtype_name, "I32");
        EXPECT_EQ(ck.get("half").shape(), Shape{4});
        expect_error([&] { ck.get("nope"); }, ErrorCode::InvalidArgument, {"'nope'", where});
        expect_error([&] { ck.info("nope"); }, ErrorCode::InvalidArgument, {"'nope'"});
    }
}

TEST(Checkpoint, StemPicksOtherNamesAndMissingFilesAreNamed) {
    TempDir dir;
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Io,
                 {dir.path(), "no model.safetensors or model.safetensors.index.json"});
    save_safetensors(dir.file("adapter_model.safetensors"),
                     {{"lora_A", Tensor::from_floats({1, 2}, {1, 2})}});
    Checkpoint ck = Checkpoint::open(dir.path(), "adapter_model");
    EXPECT_EQ(ck.names(), std::vector<std::string>{"lora_A"});
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Io, {"no model.safetensors"});
    expect_error([&] { Checkpoint::open(dir.file("gone.safetensors")); }, ErrorCode::Io,
                 {"gone.safetensors"});
}

TEST(Checkpoint, ShardedThroughAnIndex) {
    TempDir dir;
    Tensor a = Tensor::from_floats({2}, {1, 2}), b = Tensor::from_ints({3}, {3, 4, 5});
    Tensor c = Tensor::from_floats({2, 2}, {6, 7, 8, 9}, DType::BF16);
    save_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"a", a}, {"b", b}});
    save_safetensors(dir.file("model-00002-of-00002.safetensors"), {{"c", c}});
    write_index(dir.file("model.safetensors.index.json"),
                "{\"a\":\"model-00001-of-00002.safetensors\","
                "\"b\":\"model-00001-of-00002.safetensors\","
                "\"c\":\"model-00002-of-00002.safetensors\"}");
    Checkpoint ck = Checkpoint::open(dir.path());
    EXPECT_EQ(ck.files().size(), 2u);
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(same_bytes(ck.get("a"), a));
    EXPECT_TRUE(same_bytes(ck.get("b"), b));
    EXPECT_TRUE(same_bytes(ck.get("c"), c));
    EXPECT_EQ(ck.info("c").file, dir.file("model-00002-of-00002.safetensors"));
}

TEST(Checkpoint, IndexErrors) {
    TempDir dir;
    const std::string index = dir.file("model.safetensors.index.json");
    save_safetensors(dir.file("s1.safetensors"), {{"a", Tensor::from_floats({1}, {1})}});
    save_safetensors(dir.file("s2.safetensors"),
                     {{"a", Tensor::from_floats({1}, {2})}, {"b", Tensor::from_floats({1}, {3})}});

    write_index(index, "{\"a\":\"s1.safetensors\",\"z\":\"s9.safetensors\"}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Io,
                 {"model.safetensors.index.json", "shard 's9.safetensors'", "'z'", "missing"});
    write_index(index, "{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"}");
    expect_error(
        [&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse,
        {"model.safetensors.index.json", "tensor 'b'", "'s1.safetensors'", "does not contain it"});
    write_index(index, "{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse,
                 {"tensor 'a' is in two shards", "s1.safetensors", "s2.safetensors"});
    write_index(index, "{\"a\":\"../s1.safetensors\"}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse,
                 {"'../s1.safetensors'", "not a file name inside"});
    write_index(index, "{\"a\":1}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse,
                 {"weight_map['a'] is a number"});
    write_bytes(index, "{\"weight_map\": [}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse,
                 {"model.safetensors.index.json", "not valid JSON"});
    write_bytes(index, "{\"shards\": {}}");
    expect_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::Parse, {"\"weight_map\""});
}

// ---- atomic saves ----

TEST(SaveSafetensors, MissingDirectoryThrowsAndLeavesNothing) {
    TempDir dir;
    const std::string path = dir.file("no/such/dir/model.safetensors");
    expect_error([&] { save_safetensors(path, sample_tensors()); }, ErrorCode::Io,
                 {path, "No such file or directory"});
    EXPECT_TRUE(dir.entries().empty());
}

TEST(SaveSafetensors, RejectedInputLeavesTheExistingFileAlone) {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    save_safetensors(path, sample_tensors());
    const std::string before = read_bytes(path);
    const Tensor x = Tensor::from_floats({1}, {1});

    // save(tensors) is a call to make later, so that expect_error runs it.
    auto save = [&path](const NamedTensors& tensors) {
        return [&path, tensors] { save_safetensors(path, tensors); };
    };
    expect_error(save({{"w", x}, {"v", x}, {"w", x}}), ErrorCode::InvalidArgument,
                 {"model.safetensors", "duplicate tensor name 'w'"});
    expect_error(save({{"w", x}, {"u", Tensor()}}), ErrorCode::InvalidArgument,
                 {"'u' is undefined"});
    expect_error(save({{"__metadata__", x}}), ErrorCode::InvalidArgument, {"'__metadata__'"});
    float fake = 0;
    Tensor on_gpu(std::make_shared<Storage>(&fake, 4, Device::cuda(0), nullptr), 0, {1}, {1},
                  DType::F32);
    expect_error(save({{"w", x}, {"g", on_gpu}}), ErrorCode::Unsupported,
                 {"model.safetensors", "'g'", "host"});
    expect_error(save({{"bad\xff", x}}), ErrorCode::InvalidArgument,
                 {"model.safetensors", "header"});
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(SaveSafetensors, AWriteThatFailsMidwayLeavesTheExistingFileAlone) {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    save_safetensors(path, {{"x", Tensor::from_floats({1}, {1})}});
    const std::string before = read_bytes(path);
    // A file size limit makes write() fail with EFBIG partway through the 64 KiB of data.
    struct rlimit old_limit {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old_limit;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    bool threw_io = false;
    std::string message;
    try {
        save_safetensors(path, {{"big", Tensor::zeros({16384}, DType::F32)}});
    } catch (const Error& e) {
        threw_io = e.code() == ErrorCode::Io;
        message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_TRUE(threw_io) << message;
    EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("write"), std::string::npos) << message;
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(SaveSafetensors, OverwritesAMappedFileSafely) {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    save_safetensors(path, {{"x", Tensor::from_floats({2}, {1, 2})}});
    Tensor old = SafetensorsFile::open(path)->get("x");  // keeps the old mapping alive
    save_safetensors(path, {{"x", Tensor::from_floats({3}, {4, 5, 6})}});
    EXPECT_EQ(old.to_floats(), (std::vector<float>{1, 2}));
    EXPECT_EQ(SafetensorsFile::open(path)->get("x").to_floats(), (std::vector<float>{4, 5, 6}));
}

// ---- robustness: never crash, only ferris::Error ----

// Opens `bytes` as a file; on success reads every tensor's bytes. Returns whether it opened.
bool open_and_touch(const std::string& path, const std::string& bytes) {
    fs::remove(path);  // a fresh file: truncating one in place makes ext4 flush it on close
    write_bytes(path, bytes);
    try {
        auto file = SafetensorsFile::open(path);
        for (const TensorInfo& info : file->tensors()) {
            try {
                Tensor t = file->get(info.name);
                volatile uint8_t sum = 0;
                const auto* p = static_cast<const uint8_t*>(t.raw());
                for (size_t i = 0; i < t.nbytes(); ++i) sum = static_cast<uint8_t>(sum + p[i]);
            } catch (const Error&) {
            }
        }
        return true;
    } catch (const Error&) {
        return false;
    }
}

TEST(SafetensorsRobustness, EveryTruncationFails) {
    TempDir dir;
    save_safetensors(dir.file("ok.safetensors"), sample_tensors(), {{"format", "pt"}});
    const std::string bytes = read_bytes(dir.file("ok.safetensors"));
    ASSERT_TRUE(open_and_touch(dir.file("t.safetensors"), bytes));
    // The writer leaves no unused bytes, so any cut loses part of the header or of a tensor.
    for (size_t len = 0; len < bytes.size(); ++len)
        EXPECT_FALSE(open_and_touch(dir.file("t.safetensors"), bytes.substr(0, len)))
            << "truncated to " << len;
}

TEST(SafetensorsRobustness, RandomHeaderByteCorruptions) {
    TempDir dir;
    save_safetensors(dir.file("ok.safetensors"), sample_tensors(), {{"format", "pt"}});
    const std::string bytes = read_bytes(dir.file("ok.safetensors"));
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    std::mt19937 rng(1234);
    std::uniform_int_distribution<size_t> where(0, 8 + n - 1);
    std::uniform_int_distribution<int> value(0, 255);
    int opened = 0, rejected = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string corrupt = bytes;
        corrupt[where(rng)] = static_cast<char>(value(rng));
        (open_and_touch(dir.file("c.safetensors"), corrupt) ? opened : rejected)++;
    }
    // Both outcomes occur (a changed digit inside padding or metadata can stay valid).
    EXPECT_GT(opened, 0);
    EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace ferris::io
