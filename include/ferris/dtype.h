// Element types and the bf16/f16 <-> f32 conversions every backend and loader shares.
// bf16 rounds to nearest-even like torch; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace ferris {

enum class DType : uint8_t { F32, F16, BF16, I32, I64 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "f32", "f16", "bf16", "i32", "i64"
// Parses "f32"/"float32", "f16"/"float16", "bf16"/"bfloat16", "i32", "i64"; throws Parse.
DType parse_dtype(const std::string& name);
inline bool is_float(DType dtype) {
    return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(bits >> 16);
}

// Element i of a buffer of float dtype `dt`, as f32 / stored from f32 (round to nearest even).
inline float load_float(const void* p, DType dt, int64_t i) {
    switch (dt) {
        case DType::F32:
            return static_cast<const float*>(p)[i];
        case DType::F16:
            return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
        default:
            return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    }
}

inline void store_float(void* p, DType dt, int64_t i, float v) {
    switch (dt) {
        case DType::F32:
            static_cast<float*>(p)[i] = v;
            break;
        case DType::F16:
            static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
            break;
        default:
            static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
            break;
    }
}

// Converts n elements between float dtypes (any of F32/F16/BF16, contiguous).
void convert_floats(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n);

}  // namespace ferris
