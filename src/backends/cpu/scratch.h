// Per-thread scratch that later calls on the same thread reuse: the bf16 products repack their
// activations (megabytes a call in a prefill or an encode) into a buffer that would otherwise be
// allocated, zeroed and page-faulted on every call. The buffer keeps its largest size for the
// life of the thread.
#pragma once

#include <cstddef>
#include <memory>

namespace ferris::cpu {

// At least n elements, uninitialized; one buffer per (Tag, T) and thread.
template <class Tag, class T>
T* thread_scratch(size_t n) {
    thread_local std::unique_ptr<T[]> buffer;
    thread_local size_t capacity = 0;
    if (n > capacity) {
        buffer.reset(new T[n]);
        capacity = n;
    }
    return buffer.get();
}

}  // namespace ferris::cpu
