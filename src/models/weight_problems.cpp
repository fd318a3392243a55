// fail_weight_problems (see weight_problems.h).
#include "models/weight_problems.h"

#include <sstream>

namespace ferris::models {

void fail_weight_problems(const io::Checkpoint& ckpt, const std::string& model,
                          const std::vector<std::string>& problems) {
    std::ostringstream os;
    const std::string where = ckpt.files().empty() ? "checkpoint" : ckpt.files()[0]->path();
    os << where << ": " << problems.size() << " problem(s) with the " << model << " weights: ";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) os << (i ? "; " : "") << problems[i];
    if (problems.size() > 20) os << "; ... and " << problems.size() - 20 << " more";
    fail(ErrorCode::ShapeMismatch, os.str());
}

}  // namespace ferris::models
