// The one error every model's loader gives when a checkpoint does not fit its config: the file,
// how many problems, and the first 20 of them.
#pragma once

#include <string>
#include <vector>

#include "ferris/safetensors.h"

namespace ferris::models {

[[noreturn]] void fail_weight_problems(const io::Checkpoint& checkpoint, const std::string& model,
                                       const std::vector<std::string>& problems);

}  // namespace ferris::models
