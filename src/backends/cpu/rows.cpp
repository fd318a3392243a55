// CPU write_rows (row scatter with dtype conversion: the KV-cache write at device-held positions)
// and argmax (first index of the row maximum), plus record(): on the CPU a recorded step is the
// function itself, run again on each replay.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/op_trace.h"

namespace ferris::cpu {

namespace {

class CpuRecordedStep final : public RecordedStep {
public:
    explicit CpuRecordedStep(std::function<void()> body) : body_(std::move(body)) {}
    void replay() override { body_(); }

private:
    std::function<void()> body_;
};

}  // namespace

std::unique_ptr<RecordedStep> CpuBackend::record(const std::function<void()>& body) {
    return std::make_unique<CpuRecordedStep>(body);
}

void CpuBackend::write_rows(Tensor& dst, const Tensor& src, const Tensor& rows) {
    TraceScope trace("write_rows");
    const int64_t b_n = src.size(0), t_n = src.size(1);
    const int64_t row = t_n ? src.numel() / (b_n * t_n) : 0;
    const int32_t* r = rows.data<int32_t>();
    const size_t de = dtype_size(dst.dtype());
    for (int64_t b = 0; b < b_n; ++b)
        for (int64_t t = 0; t < t_n; ++t) {
            const float* s = src.data<float>() + (b * t_n + t) * row;
            char* d = static_cast<char*>(dst.raw()) +
                      (b * dst.strides()[0] + r[t] * dst.strides()[1]) * static_cast<int64_t>(de);
            convert_floats(s, DType::F32, d, dst.dtype(), static_cast<size_t>(row));
        }
}

void CpuBackend::argmax(Tensor& out, const Tensor& x) {
    TraceScope trace("argmax");
    const int64_t n = x.size(0), v = x.size(1);
    for (int64_t i = 0; i < n; ++i) {
        const float* row = x.data<float>() + i * v;
        int64_t best = 0;
        for (int64_t j = 1; j < v; ++j)
            if (row[j] > row[best]) best = j;
        out.data<int32_t>()[i] = static_cast<int32_t>(best);
    }
}

}  // namespace ferris::cpu
