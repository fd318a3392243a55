// KvCache storage and views (see kv_cache.h).
#include "nn/kv_cache.h"

#include "ops/ops.h"

namespace ferris::nn {

KvCache::KvCache(int64_t layers, int64_t batch, int64_t capacity, int64_t kv_heads,
                 int64_t head_size, DType dtype, Device device)
    : capacity_(capacity), dtype_(dtype) {
    for (int64_t l = 0; l < layers; ++l) {
        k_.push_back(ops::empty({batch, capacity, kv_heads, head_size}, dtype, device));
        v_.push_back(ops::empty({batch, capacity, kv_heads, head_size}, dtype, device));
    }
}

size_t KvCache::bytes() const {
    size_t n = 0;
    for (size_t l = 0; l < k_.size(); ++l) n += k_[l].nbytes() + v_[l].nbytes();
    return n;
}

void KvCache::write_at(int64_t layer, const Tensor& k, const Tensor& v, const Tensor& positions) {
    ops::write_rows_(k_[layer], k, positions);
    ops::write_rows_(v_[layer], v, positions);
}

Tensor KvCache::keys(int64_t layer, int64_t end) const { return k_[layer].narrow(1, 0, end); }
Tensor KvCache::values(int64_t layer, int64_t end) const { return v_[layer].narrow(1, 0, end); }

void KvCache::advance(int64_t t) { length_ += t; }

}  // namespace ferris::nn
