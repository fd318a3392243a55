// Op names for error messages and supports() reports.
#include "backends/backend.h"

namespace ferris {

const char* op_name(OpKind op) {
    switch (op) {
        case OpKind::Copy:
            return "copy";
        case OpKind::Embedding:
            return "embedding";
        case OpKind::RmsNorm:
            return "rms_norm";
        case OpKind::LayerNorm:
            return "layer_norm";
        case OpKind::Gelu:
            return "gelu";
        case OpKind::Linear:
            return "linear";
        case OpKind::Add:
            return "add";
        case OpKind::SiluMul:
            return "silu_mul";
        case OpKind::Rope:
            return "rope";
        case OpKind::Attention:
            return "scaled_dot_product_attention";
        case OpKind::CrossEntropy:
            return "cross_entropy";
        case OpKind::Pool:
            return "pool";
        case OpKind::WriteRows:
            return "write_rows";
        case OpKind::Argmax:
            return "argmax";
        case OpKind::Sample:
            return "sample";
        case OpKind::LinearAdd:
            return "linear_add";
        case OpKind::SwiGlu:
            return "swiglu";
        case OpKind::RmsNormLinear:
            return "rms_norm_linear";
        case OpKind::RmsNormSwiGlu:
            return "rms_norm_swiglu";
        case OpKind::RopeQkv:
            return "rope_qkv";
        case OpKind::RmsNormQkvRope:
            return "rms_norm_qkv_rope";
        case OpKind::AddLayerNorm:
            return "add_layer_norm";
    }
    return "?";
}

}  // namespace ferris
