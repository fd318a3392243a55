// A PEFT adapter_config.json of any bytes: from_file() either refuses it (Parse, Unsupported) or
// gives a rank and a finite scale.
#include <cmath>
#include <cstdint>

#include "fuzz_target.h"
#include "train/peft_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferris;
    const std::string path = fuzz::write_scratch("adapter_config.json", fuzz::as_text(data, size));
    fuzz::expect_only_ferris_errors([&] {
        const train::LoraConfig c = train::LoraConfig::from_file(path);
        fuzz::require(c.r > 0, "a positive rank");
        fuzz::require(std::isfinite(c.scale()), "a finite scale");
    });
    return 0;
}
