// KV cache: per layer, keys and values of the key/value heads only — (B, S_max, NKV, HS) in the
// cache dtype (f32 default on CPU for exact parity; f16/bf16 halve it). Preallocated once.
#pragma once

#include <vector>

#include "ferris/tensor.h"

namespace ferris::nn {

class KvCache {
public:
    KvCache() = default;
    KvCache(int64_t layers, int64_t batch, int64_t capacity, int64_t kv_heads, int64_t head_size,
            DType dtype, Device device);

    int64_t capacity() const { return capacity_; }
    int64_t length() const { return length_; }  // positions filled so far
    DType dtype() const { return dtype_; }
    size_t bytes() const;

    // Views of positions [0, end) for `layer`: (B, end, NKV, HS).
    Tensor keys(int64_t layer, int64_t end) const;
    Tensor values(int64_t layer, int64_t end) const;
    // Writes k, v (B, T, NKV, HS) for `layer` at `positions` (T) i32 held on the cache's device
    // (so a recorded decode step stays valid as they change); length() is left to advance().
    void write_at(int64_t layer, const Tensor& k, const Tensor& v, const Tensor& positions);
    // The whole capacity (B, S_max, NKV, HS), for attention that reads its length on the device.
    const Tensor& all_keys(int64_t layer) const { return k_[layer]; }
    const Tensor& all_values(int64_t layer) const { return v_[layer]; }
    // Marks T more positions as filled (after every layer has written them).
    void advance(int64_t t);
    void reset() { length_ = 0; }

private:
    std::vector<Tensor> k_, v_;
    int64_t capacity_ = 0;
    int64_t length_ = 0;
    DType dtype_ = DType::F32;
};

}  // namespace ferris::nn
