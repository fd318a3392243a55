// safetensors: mmap + full header validation on open, zero-copy get(), streamed atomic save.
// Header offsets are relative to the data section at 8 + header length; the writer pads the
// header with spaces so that section starts on an 8-byte boundary, as the Python library does.
#include "ferris/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "io/files.h"
#include "io/mapped_file.h"

namespace ferris::io {

namespace {

using json = nlohmann::json;
static_assert(std::endian::native == std::endian::little, "safetensors is little-endian");

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeEntry {
    const char* name;  // as written in the header
    uint64_t bits;     // per element (F4 and F6 pack several elements into a byte)
    bool computable;   // Ferris has a DType for it
    DType dtype;       // meaningful only when computable
};

constexpr DTypeEntry kDTypes[] = {
    {"F64", 64, false, DType::F32},    {"F32", 32, true, DType::F32},
    {"F16", 16, true, DType::F16},     {"BF16", 16, true, DType::BF16},
    {"I64", 64, true, DType::I64},     {"I32", 32, true, DType::I32},
    {"I16", 16, false, DType::F32},    {"I8", 8, false, DType::F32},
    {"U64", 64, false, DType::F32},    {"U32", 32, false, DType::F32},
    {"U16", 16, false, DType::F32},    {"U8", 8, false, DType::F32},
    {"BOOL", 8, false, DType::F32},    {"F8_E4M3", 8, false, DType::F32},
    {"F8_E5M2", 8, false, DType::F32}, {"F8_E8M0", 8, false, DType::F32},
    {"F6_E2M3", 6, false, DType::F32}, {"F6_E3M2", 6, false, DType::F32},
    {"F4", 4, false, DType::F32},      {"C64", 64, false, DType::F32},
};

const DTypeEntry* find_dtype(const std::string& name) {
    for (const DTypeEntry& e : kDTypes)
        if (name == e.name) return &e;
    return nullptr;
}

std::string known_dtype_names() {
    std::string out;
    for (const DTypeEntry& e : kDTypes) out += std::string(out.empty() ? "" : " ") + e.name;
    return out;
}

const char* header_dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32:
            return "F32";
        case DType::F16:
            return "F16";
        case DType::BF16:
            return "BF16";
        case DType::I32:
            return "I32";
        case DType::I64:
            return "I64";
    }
    return "?";
}

// "an array", "a string", ... for messages.
std::string kind(const json& value) {
    switch (value.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        default:
            return "a number";
    }
}

// A JSON value for a message: compact and cut to a readable length.
std::string brief(const json& value) {
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

// A non-negative integer that fits int64; false for floats, negatives, strings, ...
bool as_count(const json& value, uint64_t* out) {
    if (value.is_number_unsigned()) {
        *out = value.get<uint64_t>();
        return *out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    }
    if (value.is_number_integer() && value.get<int64_t>() >= 0) {
        *out = static_cast<uint64_t>(value.get<int64_t>());
        return true;
    }
    return false;
}

// Parses one header entry and checks everything that does not involve other entries.
TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       uint64_t data_bytes) {
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object())
        fail(ErrorCode::Parse, where, ": entry is ", kind(entry),
             ", expected an object with dtype, shape and data_offsets");
    for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!entry.contains(key)) fail(ErrorCode::Parse, where, ": missing \"", key, "\"");

    TensorInfo info;
    info.name = name;
    info.file = path;
    const json& dtype = entry["dtype"];
    if (!dtype.is_string())
        fail(ErrorCode::Parse, where, ": \"dtype\" is ", kind(dtype), ", expected a string");
    info.dtype_name = dtype.get<std::string>();
    const DTypeEntry* dt = find_dtype(info.dtype_name);
    if (!dt)
        fail(ErrorCode::Parse, where, ": unknown dtype '", info.dtype_name, "' (expected one of ",
             known_dtype_names(), ")");

    const json& shape = entry["shape"];
    if (!shape.is_array())
        fail(ErrorCode::Parse, where, ": \"shape\" is ", kind(shape),
             ", expected an array of non-negative integers");
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& d : shape) {
        uint64_t n = 0;
        if (!as_count(d, &n))
            fail(ErrorCode::Parse, where, ": shape ", brief(shape),
                 " has a dimension that is not a non-negative integer: ", brief(d));
        info.shape.push_back(static_cast<int64_t>(n));
        overflow = overflow || __builtin_mul_overflow(numel, n, &numel);
    }
    uint64_t bits = 0;
    if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, dt->bits, &bits))
        fail(ErrorCode::Parse, where, ": shape ", shape_str(info.shape), " has too many elements");
    if (bits % 8 != 0)
        fail(ErrorCode::Parse, where, ": shape ", shape_str(info.shape), " of ", info.dtype_name,
             " is not a whole number of bytes");

    const json& offsets = entry["data_offsets"];
    uint64_t begin = 0, end = 0;
    if (!offsets.is_array() || offsets.size() != 2 || !as_count(offsets[0], &begin) ||
        !as_count(offsets[1], &end))
        fail(ErrorCode::Parse, where, ": data_offsets ", brief(offsets),
             ", expected [begin, end] with non-negative integers");
    if (begin > end)
        fail(ErrorCode::Parse, where, ": data_offsets [", begin, ", ", end, "] begin > end");
    if (end > data_bytes)
        fail(ErrorCode::Parse, where, ": data_offsets end ", end,
             " is past the end of the data section (", data_bytes, " bytes)");
    if (end - begin != bits / 8)
        fail(ErrorCode::Parse, where, ": shape ", shape_str(info.shape), " of ", info.dtype_name,
             " needs ", bits / 8, " bytes but data_offsets [", begin, ", ", end, "] hold ",
             end - begin);
    info.begin = begin;
    info.end = end;
    return info;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
    std::map<std::string, std::string> out;
    if (value.is_null()) return out;
    if (!value.is_object())
        fail(ErrorCode::Parse, path, ": __metadata__ is ", kind(value),
             ", expected an object of strings");
    for (const auto& [key, v] : value.items()) {
        if (!v.is_string())
            fail(ErrorCode::Parse, path, ": __metadata__ '", key, "' is ", kind(v), " (", brief(v),
                 "), expected a string");
        out[key] = v.get<std::string>();
    }
    return out;
}

// Parses the header, rejecting a key that appears twice at the top level (JSON parsers would
// silently keep one of them).
json parse_header(const std::string& path, const char* text, size_t bytes) {
    std::set<std::string> seen;
    std::string duplicate;
    auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
            const std::string& key = parsed.get_ref<const std::string&>();
            if (!seen.insert(key).second) duplicate = key;
        }
        return true;
    };
    json header;
    try {
        header = json::parse(text, text + bytes, on_event);
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, path, ": header is not valid JSON: ", e.what());
    }
    if (!header.is_object())
        fail(ErrorCode::Parse, path, ": header is ", kind(header), ", expected a JSON object");
    if (!duplicate.empty()) fail(ErrorCode::Parse, path, ": header names '", duplicate, "' twice");
    return header;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    auto file = std::make_shared<SafetensorsFile>();
    file->path_ = path;
    file->map_ = std::make_shared<MappedFile>(path);
    const uint8_t* base = file->map_->data();
    const uint64_t size = file->map_->size();
    if (size < 8)
        fail(ErrorCode::Parse, path, ": file is ", size,
             " bytes, too short for the 8-byte header length");
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, base, 8);
    if (header_bytes > size - 8)
        fail(ErrorCode::Parse, path, ": header length ", header_bytes, " exceeds file size ", size,
             " (at most ", size - 8, " after the 8-byte length)");
    if (header_bytes > kMaxHeaderBytes)
        fail(ErrorCode::Parse, path, ": header length ", header_bytes, " exceeds the limit of ",
             kMaxHeaderBytes, " bytes");
    file->data_offset_ = 8 + header_bytes;
    const uint64_t data_bytes = size - file->data_offset_;

    json header = parse_header(path, reinterpret_cast<const char*>(base + 8), header_bytes);
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            file->metadata_ = parse_metadata(path, entry);
            continue;
        }
        file->tensors_.push_back(parse_entry(path, name, entry, data_bytes));
    }

    // Overlaps: sweep the non-empty ranges in order of begin against the furthest end so far.
    std::vector<const TensorInfo*> order;
    for (const TensorInfo& t : file->tensors_)
        if (t.end > t.begin) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    const TensorInfo* furthest = nullptr;
    for (const TensorInfo* t : order) {
        if (furthest && t->begin < furthest->end)
            fail(ErrorCode::Parse, path, ": tensors '", furthest->name, "' [", furthest->begin,
                 ", ", furthest->end, ") and '", t->name, "' [", t->begin, ", ", t->end,
                 ") overlap in the data section");
        if (!furthest || t->end > furthest->end) furthest = t;
    }

    for (size_t i = 0; i < file->tensors_.size(); ++i) file->index_[file->tensors_[i].name] = i;
    return file;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
    const TensorInfo* info = find(name);
    if (!info) fail(ErrorCode::InvalidArgument, path_, ": no tensor '", name, "'");
    const DTypeEntry* dt = find_dtype(info->dtype_name);
    if (!dt->computable)
        fail(ErrorCode::Unsupported, path_, ": tensor '", name, "' has dtype ", info->dtype_name,
             "; Ferris computes with F32, F16, BF16, I32 and I64");
    const uint8_t* data = map_->data() + data_offset_ + info->begin;
    const size_t bytes = info->end - info->begin;
    if (reinterpret_cast<uintptr_t>(data) % dtype_size(dt->dtype) != 0) {
        // Only a writer that did not pad its header gets here; kernels need aligned elements.
        Tensor copy = Tensor::empty(info->shape, dt->dtype);
        if (bytes > 0) std::memcpy(copy.raw(), data, bytes);
        return copy;
    }
    // The release function owns a reference to the mapping: it lives as long as any view.
    auto storage = std::make_shared<Storage>(const_cast<uint8_t*>(data), bytes, Device::cpu(),
                                             [map = map_](void*) mutable { map.reset(); });
    return Tensor(std::move(storage), 0, info->shape, contiguous_strides(info->shape), dt->dtype);
}

namespace {

// Opens the shards an index names and checks that it tells the truth about them.
void load_index(const std::string& dir, const std::string& index_path,
                std::vector<std::shared_ptr<SafetensorsFile>>* files,
                std::map<std::string, size_t>* owner) {
    json index;
    try {
        index = json::parse(read_text_file(index_path));
    } catch (const json::exception& e) {
        fail(ErrorCode::Parse, index_path, ": not valid JSON: ", e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
        fail(ErrorCode::Parse, index_path, ": expected an object with a \"weight_map\" object");
    std::map<std::string, size_t> shard_files;  // shard name as written -> index into files
    for (const auto& [name, shard_value] : index["weight_map"].items()) {
        if (!shard_value.is_string())
            fail(ErrorCode::Parse, index_path, ": weight_map['", name, "'] is ", kind(shard_value),
                 ", expected a shard file name");
        const std::string shard = shard_value.get<std::string>();
        const std::filesystem::path shard_path(shard);
        bool escapes = shard.empty() || shard_path.is_absolute();
        for (const auto& part : shard_path) escapes = escapes || part == "..";
        if (escapes)
            fail(ErrorCode::Parse, index_path, ": shard '", shard, "' for tensor '", name,
                 "' is not a file name inside ", dir);
        auto it = shard_files.find(shard);
        if (it == shard_files.end()) {
            const std::string full = join_path(dir, shard);
            if (!path_exists(full))
                fail(ErrorCode::Io, index_path, ": shard '", shard, "' (holding '", name,
                     "') is missing: ", full, " does not exist");
            files->push_back(SafetensorsFile::open(full));
            it = shard_files.emplace(shard, files->size() - 1).first;
        }
        if (!(*files)[it->second]->find(name))
            fail(ErrorCode::Parse, index_path, ": tensor '", name, "' is mapped to shard '", shard,
                 "', which does not contain it");
        (*owner)[name] = it->second;
    }
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < files->size(); ++i) {
        for (const TensorInfo& t : (*files)[i]->tensors()) {
            auto [it, inserted] = seen.emplace(t.name, i);
            if (!inserted)
                fail(ErrorCode::Parse, index_path, ": tensor '", t.name, "' is in two shards, ",
                     (*files)[it->second]->path(), " and ", t.file);
        }
    }
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path, const std::string& stem) {
    Checkpoint ck;
    ck.path_ = path;
    std::string single = path;
    if (is_directory(path)) {
        single = join_path(path, stem + ".safetensors");
        if (!path_exists(single)) {
            const std::string index = join_path(path, stem + ".safetensors.index.json");
            if (!path_exists(index))
                fail(ErrorCode::Io, path, ": no ", stem, ".safetensors or ", stem,
                     ".safetensors.index.json");
            load_index(path, index, &ck.files_, &ck.owner_);
            return ck;
        }
    }
    ck.files_.push_back(SafetensorsFile::open(single));
    for (const TensorInfo& t : ck.files_[0]->tensors()) ck.owner_[t.name] = 0;
    return ck;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(owner_.size());
    for (const auto& entry : owner_) out.push_back(entry.first);
    return out;
}

bool Checkpoint::has(const std::string& name) const { return owner_.count(name) != 0; }

const TensorInfo& Checkpoint::info(const std::string& name) const {
    auto it = owner_.find(name);
    if (it == owner_.end()) fail(ErrorCode::InvalidArgument, path_, ": no tensor '", name, "'");
    return *files_[it->second]->find(name);
}

Tensor Checkpoint::get(const std::string& name) const {
    auto it = owner_.find(name);
    if (it == owner_.end()) fail(ErrorCode::InvalidArgument, path_, ": no tensor '", name, "'");
    return files_[it->second]->get(name);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
    // Everything that can be wrong with the input is checked before the file is created.
    std::set<std::string> names;
    for (const auto& [name, t] : tensors) {
        if (name.empty()) fail(ErrorCode::InvalidArgument, path, ": empty tensor name");
        if (name == "__metadata__")
            fail(ErrorCode::InvalidArgument, path, ": '__metadata__' cannot name a tensor");
        if (!names.insert(name).second)
            fail(ErrorCode::InvalidArgument, path, ": duplicate tensor name '", name, "'");
        if (!t.defined())
            fail(ErrorCode::InvalidArgument, path, ": tensor '", name, "' is undefined");
        if (!t.device().is_cpu())
            fail(ErrorCode::Unsupported, path, ": tensor '", name, "' is on ", t.device().str(),
                 "; copy it to the host before saving");
    }
    std::string header_text;
    try {
        nlohmann::ordered_json header = nlohmann::ordered_json::object();
        if (!metadata.empty()) {
            nlohmann::ordered_json meta = nlohmann::ordered_json::object();
            for (const auto& [key, value] : metadata) meta[key] = value;
            header["__metadata__"] = meta;
        }
        uint64_t offset = 0;
        for (const auto& [name, t] : tensors) {
            const uint64_t end = offset + t.nbytes();
            header[name] = {{"dtype", header_dtype_name(t.dtype())},
                            {"shape", t.shape()},
                            {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
            offset = end;
        }
        header_text = header.dump();
    } catch (const json::exception& e) {
        fail(ErrorCode::InvalidArgument, path, ": cannot write the header: ", e.what());
    }
    header_text.append((8 - header_text.size() % 8) % 8, ' ');

    AtomicFileWriter writer(path);
    const uint64_t header_bytes = header_text.size();
    writer.write(&header_bytes, 8);
    writer.write(header_text);
    for (const auto& [name, t] : tensors) {
        if (t.numel() == 0) continue;
        if (t.is_contiguous()) {
            writer.write(t.raw(), t.nbytes());
        } else {
            Tensor copy = t.contiguous();  // one tensor at a time, never the whole file
            writer.write(copy.raw(), copy.nbytes());
        }
    }
    writer.commit();
}

}  // namespace ferris::io
