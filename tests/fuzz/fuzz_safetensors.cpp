// A .safetensors file of any bytes: open() validates the header; every tensor it then accepts
// must lie inside the file, and every view get() returns must be readable to its last byte.
#include <cstdint>

#include "ferris/safetensors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string path = fuzz::write_scratch("model.safetensors", fuzz::as_text(data, size));
    fuzz::expect_only_ferris_errors([&] {
        const auto file = io::SafetensorsFile::open(path);
        for (const io::TensorInfo& info : file->tensors()) {
            fuzz::require(info.begin <= info.end && info.end <= size, "tensor inside the file");
            fuzz::require(file->find(info.name) == &info, "find() returns the listed tensor");
            fuzz::expect_only_ferris_errors([&] {  // Unsupported dtypes (F64, I8, ...) throw
                const Tensor t = file->get(info.name);
                fuzz::require(t.nbytes() == info.end - info.begin, "view size = header size");
                const auto* bytes = static_cast<const volatile uint8_t*>(t.raw());
                uint8_t sum = 0;
                for (size_t i = 0; i < t.nbytes(); ++i) sum ^= bytes[i];
                (void)sum;
            });
        }
    });
    return 0;
}
