// CPU causal grouped-query attention. One task per (batch, head, query): scores against the
// visible keys, a max-subtracted softmax in f32, then the weighted sum of values. K/V may be
// f32, f16 or bf16 (the KV cache dtype) and are converted as they are read.
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/simd.h"

namespace ferris::cpu {

void CpuBackend::attention(Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v,
                           int64_t q_offset, float scale) {
    const int64_t b_n = q.size(0), t_n = q.size(1), nh = q.size(2), hs = q.size(3);
    const int64_t s_n = k.size(1), nkv = k.size(2), group = nh / nkv;
    const DType kd = k.dtype(), vd = v.dtype();
    const size_t ke = dtype_size(kd), ve = dtype_size(vd);
    const char* kp = static_cast<const char*>(k.raw());
    const char* vp = static_cast<const char*>(v.raw());
    const int64_t kb = k.strides()[0], ks = k.strides()[1], vb = v.strides()[0],
                  vs = v.strides()[1];
    const float* qp = q.data<float>();
    float* op = out.data<float>();
    const int64_t tasks = b_n * nh * t_n;
#pragma omp parallel
    {
        std::vector<float> p(static_cast<size_t>(s_n));
        std::vector<float> acc(static_cast<size_t>(hs));
#pragma omp for schedule(dynamic, 4)
        for (int64_t task = 0; task < tasks; ++task) {
            const int64_t t = task % t_n, h = (task / t_n) % nh, b = task / (t_n * nh);
            const int64_t kvh = h / group;
            const int64_t visible = std::min(s_n, q_offset + t + 1);
            const float* qr = qp + ((b * t_n + t) * nh + h) * hs;
            float mx = -INFINITY;
            for (int64_t s = 0; s < visible; ++s) {
                const void* kr = kp + ((b * kb + s * ks) + kvh * hs) * static_cast<int64_t>(ke);
                p[s] = dot_f32(qr, kr, kd, hs) * scale;
                mx = p[s] > mx ? p[s] : mx;
            }
            float sum = 0;
            for (int64_t s = 0; s < visible; ++s) {
                p[s] = std::exp(p[s] - mx);
                sum += p[s];
            }
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t s = 0; s < visible; ++s) {
                const char* vr = vp + ((b * vb + s * vs) + kvh * hs) * static_cast<int64_t>(ve);
                const VecF w = vset1(p[s]);
                int64_t i = 0;
                if (vd == DType::F32) {
                    const float* vf = reinterpret_cast<const float*>(vr);
                    for (; i + kLanes <= hs; i += kLanes)
                        vstore(acc.data() + i, vfma(w, vload(vf + i), vload(acc.data() + i)));
                } else {
                    const uint16_t* vh = reinterpret_cast<const uint16_t*>(vr);
                    for (; i + kLanes <= hs; i += kLanes)
                        vstore(acc.data() + i, vfma(w, vload(vh + i, vd), vload(acc.data() + i)));
                }
                for (; i < hs; ++i) acc[i] += p[s] * load_float(vr, vd, i);
            }
            float* orow = op + ((b * t_n + t) * nh + h) * hs;
            const float inv = visible > 0 ? 1.0f / sum : 0.0f;
            for (int64_t i = 0; i < hs; ++i) orow[i] = acc[i] * inv;
        }
    }
}

}  // namespace ferris::cpu
