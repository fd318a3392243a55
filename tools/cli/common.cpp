// Shared CLI plumbing (see common.h).
#include "common.h"

#include <cstdio>

#include "ferris/threads.h"
#include "io/files.h"
#include "train/peft_adapter.h"

namespace ferris::cli {

void ModelOptions::add_to(CLI::App* app, bool with_adapter) {
    app->add_option("--model", model_dir,
                    "Hugging Face model folder (config.json, *.safetensors, "
                    "tokenizer.json)")
        ->required();
    if (with_adapter)
        app->add_option(
            "--adapter", adapter_dir,
            "PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)");
    app->add_option("--device", device, "cpu, cuda, cuda:N or auto (GPU when present)")
        ->check(parsed_by(parse_device))
        ->capture_default_str();
    app->add_option("--dtype", dtype,
                    "compute dtype of the weights: f32, f16 or bf16 "
                    "(default: as stored)")
        ->check(parsed_by(parse_dtype));
    app->add_option("--threads", threads,
                    "CPU threads for the CPU ops and tokenizing (0 = all cores; work goes to "
                    "the threads that are running, so all cores suit a busy host too)")
        ->capture_default_str();
}

void apply_threads(int threads) { set_num_threads(threads); }

LoadedModel load_model(const ModelOptions& o, bool quiet) {
    apply_threads(o.threads);
    std::string notice;
    const DeviceRequest req = parse_device(o.device);
    const Device device = resolve_device(req, &notice);
    if (req.automatic && !quiet) std::fprintf(stderr, "[ferris] %s\n", notice.c_str());
    models::qwen2::LoadOptions lo;
    lo.device = device;
    if (!o.dtype.empty()) lo.dtype = parse_dtype(o.dtype);
    LoadedModel m;
    m.dir = o.model_dir;
    m.model = models::qwen2::Qwen2Model::load(o.model_dir, lo);
    m.tokenizer = Tokenizer::from_file(io::join_path(o.model_dir, "tokenizer.json"));
    if (!o.adapter_dir.empty())
        train::attach_adapter(*m.model, train::PeftAdapter::load(o.adapter_dir));
    return m;
}

std::string read_text_argument(const std::string& text, const std::string& file,
                               const char* text_flag, const char* file_flag) {
    if (!text.empty() && !file.empty())
        fail(ErrorCode::InvalidArgument, "give either ", text_flag, " or ", file_flag,
             ", not both");
    if (!file.empty()) return io::read_text_file(file);
    return text;
}

}  // namespace ferris::cli
