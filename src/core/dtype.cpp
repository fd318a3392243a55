// dtype names and float conversions. f16 conversion uses F16C when the compiler targets it.
#include "ferris/dtype.h"

#include <immintrin.h>

#include "ferris/error.h"

namespace ferris {

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::F32:
            return 4;
        case DType::F16:
            return 2;
        case DType::BF16:
            return 2;
        case DType::I32:
            return 4;
        case DType::I64:
            return 8;
    }
    return 0;
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32:
            return "f32";
        case DType::F16:
            return "f16";
        case DType::BF16:
            return "bf16";
        case DType::I32:
            return "i32";
        case DType::I64:
            return "i64";
    }
    return "?";
}

DType parse_dtype(const std::string& name) {
    if (name == "f32" || name == "float32" || name == "float") return DType::F32;
    if (name == "f16" || name == "float16" || name == "half") return DType::F16;
    if (name == "bf16" || name == "bfloat16") return DType::BF16;
    if (name == "i32" || name == "int32") return DType::I32;
    if (name == "i64" || name == "int64") return DType::I64;
    fail(ErrorCode::Parse, "unknown dtype '", name, "' (expected f32, f16, bf16, i32 or i64)");
}

float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
uint16_t f32_to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

void convert_floats(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n) {
    FERRIS_ASSERT(is_float(src_dtype) && is_float(dst_dtype));
    if (src_dtype == dst_dtype) {
        std::memcpy(dst, src, n * dtype_size(src_dtype));
        return;
    }
    size_t i0 = 0;
#if defined(__AVX512F__)
    // Fast paths for the conversions on hot paths (weights and KV cache to f32).
    if (dst_dtype == DType::F32 && src_dtype != DType::F32) {
        const uint16_t* s = static_cast<const uint16_t*>(src);
        float* d = static_cast<float*>(dst);
        for (; i0 + 16 <= n; i0 += 16) {
            __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i0));
            __m512 v = src_dtype == DType::F16
                           ? _mm512_cvtph_ps(h)
                           : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
            _mm512_storeu_ps(d + i0, v);
        }
    }
#endif
    for (size_t i = i0; i < n; ++i)
        store_float(dst, dst_dtype, static_cast<int64_t>(i),
                    load_float(src, src_dtype, static_cast<int64_t>(i)));
}

}  // namespace ferris
