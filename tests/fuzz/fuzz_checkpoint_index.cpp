// A sharded checkpoint's model.safetensors.index.json of any bytes, beside one valid shard
// (tensors "a" and "b"): Checkpoint::open() must either refuse the index or give a checkpoint
// whose every listed tensor can be read.
#include <cstdint>

#include "ferris/safetensors.h"
#include "fuzz_target.h"
#include "io/files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    static const std::string shard_bytes = [] {
        const std::string dir = fuzz::fresh_scratch_dir();
        const std::string path = dir + "/shard.safetensors";
        io::save_safetensors(path, {{"a", Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6})},
                                    {"b", Tensor::from_floats({4}, {7, 8, 9, 10})}});
        return io::read_text_file(path);
    }();
    const std::string dir = fuzz::fresh_scratch_dir();
    fuzz::write_scratch("model-00001-of-00001.safetensors", shard_bytes);
    fuzz::write_scratch("model.safetensors.index.json", fuzz::as_text(data, size));
    fuzz::expect_only_ferris_errors([&] {
        const io::Checkpoint ckpt = io::Checkpoint::open(dir);
        for (const std::string& name : ckpt.names()) {
            fuzz::require(ckpt.has(name), "a listed tensor is there");
            const Tensor t = ckpt.get(name);
            fuzz::require(t.nbytes() == ckpt.info(name).end - ckpt.info(name).begin,
                          "view size = header size");
        }
    });
    return 0;
}
