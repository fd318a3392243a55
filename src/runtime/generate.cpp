// generate(): prefill, sample, decode loop, stop handling and streaming (see generate.h).
#include "runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "io/files.h"
#include "ops/ops.h"
#include "runtime/device_stepper.h"

namespace ferris::runtime {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Holds back text that could be the start of a stop string; finds complete stop strings.
class StopMatcher {
public:
    explicit StopMatcher(const std::vector<std::string>& stops) : stops_(stops) {
        for (const auto& s : stops_) hold_ = std::max(hold_, s.empty() ? 0 : s.size() - 1);
    }
    // Appends text; returns true when a stop string completed (text_ is cut before it).
    bool append(const std::string& piece) {
        text_ += piece;
        size_t cut = std::string::npos;
        for (const auto& s : stops_) {
            if (s.empty()) continue;
            size_t from = emitted_ > s.size() ? emitted_ - s.size() : 0;
            size_t at = text_.find(s, from);
            if (at != std::string::npos) cut = std::min(cut, at);
        }
        if (cut != std::string::npos) {
            text_.resize(cut);
            return true;
        }
        return false;
    }
    // Text that can be shown now (everything when `final`).
    std::string take(bool final) {
        size_t safe = final ? text_.size() : (text_.size() > hold_ ? text_.size() - hold_ : 0);
        // Never split a UTF-8 character when holding back.
        while (safe > emitted_ && safe < text_.size() &&
               (static_cast<unsigned char>(text_[safe]) & 0xC0) == 0x80)
            --safe;
        if (safe <= emitted_) return {};
        std::string out = text_.substr(emitted_, safe - emitted_);
        emitted_ = safe;
        return out;
    }
    const std::string& text() const { return text_; }

private:
    std::vector<std::string> stops_;
    size_t hold_ = 0;
    std::string text_;
    size_t emitted_ = 0;
};

}  // namespace

GenerateResult generate(const models::qwen2::Qwen2Model& model, const Tokenizer& tokenizer,
                        const std::vector<int32_t>& prompt_ids, const GenerateOptions& options,
                        const TextCallback& on_text) {
    const auto& cfg = model.config();
    if (prompt_ids.empty()) fail(ErrorCode::InvalidArgument, "the prompt is empty (no tokens)");
    if (options.max_tokens < 0)
        fail(ErrorCode::InvalidArgument, "--max-tokens must be >= 0, got ", options.max_tokens);
    int64_t context = cfg.max_position_embeddings;
    if (options.context > 0) context = std::min(context, options.context);
    const int64_t prompt_len = static_cast<int64_t>(prompt_ids.size());
    if (prompt_len > context)
        fail(ErrorCode::InvalidArgument, "the prompt has ", prompt_len,
             " tokens, more than the context of ", context);
    for (int32_t id : prompt_ids)
        if (id < 0 || id >= cfg.vocab_size)
            fail(ErrorCode::InvalidArgument, "prompt token id ", id, " is outside the vocabulary (",
                 cfg.vocab_size, ")");

    const int64_t capacity = std::min<int64_t>(context, prompt_len + options.max_tokens);
    nn::KvCache cache = model.new_cache(capacity, options.kv_dtype);
    // Every token is chosen on the model's device; after the prompt, each step is recorded once
    // and replayed (see device_stepper.h), and only the chosen id comes back.
    DeviceStepper stepper(model, cache, options.sampling, prompt_ids);
    StreamDecoder decoder(tokenizer);
    StopMatcher stops(options.stop);

    GenerateResult r;
    r.prompt_ids = prompt_ids;
    r.kv_cache_bytes = cache.bytes();
    r.stop_reason = "length";
    auto emit = [&](bool final) {
        std::string s = stops.take(final);
        if (!s.empty() && on_text) on_text(s);
    };

    const auto t0 = Clock::now();
    Clock::time_point t_first = t0;
    for (int i = 0; i < options.max_tokens; ++i) {
        const int64_t feed = i == 0 ? prompt_len : 1;
        if (cache.length() + feed > capacity) break;  // context full
        const int32_t next = i == 0 ? stepper.prefill(prompt_ids) : stepper.step();
        if (i == 0) t_first = Clock::now();
        r.ids.push_back(next);
        const bool is_eos = std::find(options.eos_ids.begin(), options.eos_ids.end(), next) !=
                            options.eos_ids.end();
        if (is_eos && !options.ignore_eos) {
            r.stop_reason = "eos";
            break;
        }
        if (stops.append(decoder.push(next))) {
            r.stop_reason = "stop";
            break;
        }
        emit(false);
    }
    if (r.stop_reason != "stop" && stops.append(decoder.flush())) r.stop_reason = "stop";
    emit(true);
    r.text = stops.text();
    r.prompt_seconds = std::chrono::duration<double>(t_first - t0).count();
    r.generate_seconds = r.ids.empty() ? 0.0 : seconds_since(t_first);
    return r;
}

std::vector<int32_t> eos_token_ids(const std::string& model_dir,
                                   const models::qwen2::Qwen2Config& config) {
    std::vector<int32_t> ids;
    const std::string gen = io::join_path(model_dir, "generation_config.json");
    if (io::path_exists(gen)) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(io::read_text_file(gen));
        } catch (const nlohmann::json::exception& e) {
            fail(ErrorCode::Parse, gen, ": invalid JSON: ", e.what());
        }
        if (auto it = j.find("eos_token_id"); it != j.end()) {
            if (it->is_array()) {
                for (const auto& e : *it)
                    if (e.is_number_integer()) ids.push_back(e.get<int32_t>());
            } else if (it->is_number_integer()) {
                ids.push_back(it->get<int32_t>());
            }
        }
    }
    if (ids.empty())
        for (int64_t id : config.eos_token_ids) ids.push_back(static_cast<int32_t>(id));
    return ids;
}

}  // namespace ferris::runtime
