// The real ferris binary on bad input: broken checkpoints, configs, tokenizers and adapters, usage
// errors, plus happy paths with real assertions. Every failure must be one "error: " line naming
// the file or option and the problem, exit 1 (2 for usage), no signal, no hang, no file touched.
// One valid tiny model is made per test process; broken copies are derived from it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_assertions.h"
#include "cli_runner.h"
#include "ferris/safetensors.h"
#include "ferris/tensor.h"

namespace {

namespace fs = std::filesystem;
using ferris::test::CliResult;
using ferris::test::run_cli;
using namespace ferris::test::assertions;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---- files ----------------------------------------------------------------------------------

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Every file under `dir` (relative path -> bytes): "nothing written" is snapshot equality.
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot(const fs::path& dir) {
    Snapshot s;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        s[fs::relative(e.path(), dir).string()] =
            e.is_regular_file() ? read_file(e.path()) : "<dir>";
    return s;
}

// The per-process scratch folder (removed at exit) with one valid tiny model, made on first use.
class Scratch {
public:
    static Scratch& get() {
        static Scratch scratch;
        return scratch;
    }
    const fs::path& root() const { return root_; }

    const fs::path& good() {
        if (good_.empty()) {
            const fs::path dir = root_ / "good";
            const CliResult r =
                run_cli({"create-model", "--preset", "tiny", "--seed", "1", "--out", dir.string()});
            if (!r.exited || r.exit_code != 0) {
                ADD_FAILURE() << "create-model failed: " << r.describe();
                throw std::runtime_error("no tiny model");
            }
            good_ = dir;
        }
        return good_;
    }

    // A copy of the good model folder, to be broken by the caller.
    fs::path copy_good(const std::string& name) {
        const fs::path dst = root_ / name;
        fs::copy(good(), dst, fs::copy_options::recursive);
        return dst;
    }

private:
    Scratch() {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferris-cli-XXXXXX";
        if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
        root_ = templ;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    fs::path root_, good_;
};

// ---- safetensors surgery --------------------------------------------------------------------

struct RawSafetensors {
    ordered_json header;
    std::string data;  // the data section, byte for byte
};

RawSafetensors read_raw(const fs::path& path) {
    const std::string bytes = read_file(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    return {ordered_json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

// Writes a header (padded to 8 bytes like the Python library) followed by `data`.
void write_raw(const fs::path& path, const ordered_json& header, const std::string& data) {
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const uint64_t n = text.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    write_file(path, out + text + data);
}

// Rewrites model.safetensors of `dir` through the library: every tensor of the good model except
// `drop`, plus `extra`.
void rewrite_checkpoint(const fs::path& dir, const std::string& drop,
                        const ferris::io::NamedTensors& extra = {}) {
    const ferris::io::Checkpoint good = ferris::io::Checkpoint::open(Scratch::get().good());
    ferris::io::NamedTensors tensors;
    for (const std::string& name : good.names())
        if (name != drop) tensors.emplace_back(name, good.get(name));
    tensors.insert(tensors.end(), extra.begin(), extra.end());
    ferris::io::save_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

// `perplexity` and `inspect` on a broken model folder: both fail naming it, neither writes.
void expect_model_rejected(const fs::path& dir, std::initializer_list<std::string> needles,
                           bool inspect_too = true) {
    const Snapshot before = snapshot(dir);
    const CliResult ppl = run_cli({"perplexity", "--model", dir.string(), "--text", "hi there"});
    EXPECT_TRUE(fails_with(ppl, needles)) << "perplexity";
    if (inspect_too) {
        const CliResult ins = run_cli({"inspect", "--model", dir.string()});
        EXPECT_TRUE(fails_with(ins, needles)) << "inspect";
    }
    EXPECT_TRUE(snapshot(dir) == before) << dir << " changed";
}

std::vector<std::string> generate_args(const fs::path& model, std::vector<std::string> more) {
    std::vector<std::string> args = {"generate", "--model", model.string(), "--device", "cpu"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// ---- safetensors ----------------------------------------------------------------------------

TEST(CliSafetensors, TruncatedToHalf) {
    const fs::path dir = Scratch::get().copy_good("half");
    const std::string bytes = read_file(dir / "model.safetensors");
    write_file(dir / "model.safetensors", bytes.substr(0, bytes.size() / 2));
    expect_model_rejected(dir, {"model.safetensors", "past the end of the data section"});
}

TEST(CliSafetensors, TruncatedTo4BytesOrEmpty) {
    const fs::path dir = Scratch::get().copy_good("four");
    const std::string bytes = read_file(dir / "model.safetensors");
    write_file(dir / "model.safetensors", bytes.substr(0, 4));
    expect_model_rejected(dir, {"model.safetensors", "4 bytes", "too short"});
    write_file(dir / "model.safetensors", "");
    expect_model_rejected(dir, {"model.safetensors", "0 bytes", "too short"});
}

TEST(CliSafetensors, HeaderLengthPastEndOfFile) {
    const fs::path dir = Scratch::get().copy_good("hlen");
    std::string bytes = read_file(dir / "model.safetensors");
    const uint64_t n = bytes.size() * 2;
    std::memcpy(bytes.data(), &n, 8);
    write_file(dir / "model.safetensors", bytes);
    expect_model_rejected(
        dir, {"model.safetensors", "header length " + std::to_string(n), "exceeds file size"});
    const uint64_t huge = ~uint64_t{0};  // 1.8e19: no overflow in "8 + length"
    std::memcpy(bytes.data(), &huge, 8);
    write_file(dir / "model.safetensors", bytes);
    expect_model_rejected(dir, {"model.safetensors", "header length", "exceeds file size"});
}

TEST(CliSafetensors, HeaderNotJson) {
    const fs::path dir = Scratch::get().copy_good("notjson");
    std::string bytes = read_file(dir / "model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    std::memset(bytes.data() + 9, 'x', n - 1);  // keeps the opening '{'
    write_file(dir / "model.safetensors", bytes);
    expect_model_rejected(dir, {"model.safetensors", "header is not valid JSON"});
}

TEST(CliSafetensors, OffsetsOutsideDataSection) {
    const fs::path dir = Scratch::get().copy_good("offsets");
    RawSafetensors st = read_raw(dir / "model.safetensors");
    auto& offsets = st.header["model.norm.weight"]["data_offsets"];
    const uint64_t size = offsets[1].get<uint64_t>() - offsets[0].get<uint64_t>();
    offsets = {st.data.size(), st.data.size() + size};
    write_raw(dir / "model.safetensors", st.header, st.data);
    expect_model_rejected(
        dir, {"model.safetensors", "'model.norm.weight'", "past the end of the data section"});
}

TEST(CliSafetensors, OverlappingOffsets) {
    const fs::path dir = Scratch::get().copy_good("overlap");
    RawSafetensors st = read_raw(dir / "model.safetensors");
    // Two (64) BF16 tensors: give the second the first's bytes.
    st.header["model.layers.1.input_layernorm.weight"]["data_offsets"] =
        st.header["model.layers.0.input_layernorm.weight"]["data_offsets"];
    write_raw(dir / "model.safetensors", st.header, st.data);
    expect_model_rejected(
        dir, {"model.safetensors", "overlap", "model.layers.1.input_layernorm.weight"});
}

TEST(CliSafetensors, ByteSizeDisagreesWithShape) {
    const fs::path dir = Scratch::get().copy_good("shape");
    RawSafetensors st = read_raw(dir / "model.safetensors");
    st.header["model.norm.weight"]["shape"] = {128};  // holds 64 BF16 = 128 bytes
    write_raw(dir / "model.safetensors", st.header, st.data);
    expect_model_rejected(
        dir, {"model.safetensors", "'model.norm.weight'", "shape (128)", "needs 256 bytes"});
}

TEST(CliSafetensors, MissingShard) {
    const fs::path dir = Scratch::get().root() / "sharded";
    const CliResult made =
        run_cli({"create-model", "--preset", "tiny", "--shards", "2", "--out", dir.string()});
    ASSERT_EQ(made.exit_code, 0) << made.describe();
    fs::remove(dir / "model-00002-of-00002.safetensors");
    expect_model_rejected(
        dir, {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "is missing"});
}

// ---- model folder ---------------------------------------------------------------------------

TEST(CliModel, FolderMissing) {
    const fs::path dir = Scratch::get().root() / "no_such_model";
    const CliResult r = run_cli({"perplexity", "--model", dir.string(), "--text", "hi there"});
    EXPECT_TRUE(fails_with(r, {dir.string(), "not a model directory"}));
    EXPECT_FALSE(fs::exists(dir));
}

TEST(CliModel, MissingTensorIsNamed) {
    const fs::path dir = Scratch::get().copy_good("missing");
    rewrite_checkpoint(dir, "model.layers.1.mlp.up_proj.weight");
    // inspect lists what is there; only loading checks the set of tensors.
    expect_model_rejected(dir, {"model.safetensors", "missing model.layers.1.mlp.up_proj.weight"},
                          false);
}

TEST(CliModel, UnexpectedTensorIsNamed) {
    const fs::path dir = Scratch::get().copy_good("extra");
    rewrite_checkpoint(
        dir, "",
        {{"model.layers.0.mlp.extra.weight", ferris::Tensor::zeros({4}, ferris::DType::BF16)}});
    expect_model_rejected(dir, {"model.safetensors", "unexpected model.layers.0.mlp.extra.weight"},
                          false);
}

TEST(CliModel, ConfigContradictsWeights) {
    const fs::path dir = Scratch::get().copy_good("hidden");
    json config = json::parse(read_file(dir / "config.json"));
    config["hidden_size"] = 128;
    write_file(dir / "config.json", config.dump(2));
    expect_model_rejected(dir,
                          {"model.safetensors",
                           "model.embed_tokens.weight has shape (151936, 64), config implies "
                           "(151936, 128)"},
                          false);
    // inspect still describes the folder, and lists what does not fit.
    const json j = json_output(run_cli({"inspect", "--model", dir.string(), "--json"}));
    ASSERT_TRUE(j.is_object());
    ASSERT_FALSE(j["problems"].empty());
    EXPECT_NE(j["problems"][0].get<std::string>().find("config implies"), std::string::npos);
}

TEST(CliModel, ConfigNotJson) {
    const fs::path dir = Scratch::get().copy_good("badconfig");
    write_file(dir / "config.json", "{\"model_type\": \"qwen2\",");
    expect_model_rejected(dir, {"config.json", "invalid JSON"});
}

TEST(CliModel, ConfigYarnRopeIsUnsupported) {
    const fs::path dir = Scratch::get().copy_good("yarn");
    json config = json::parse(read_file(dir / "config.json"));
    config["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
    write_file(dir / "config.json", config.dump(2));
    expect_model_rejected(dir, {"config.json", "rope_scaling", "'yarn'", "not implemented"});
}

TEST(CliModel, ConfigWrongTypesAndAbsurdSizes) {
    const fs::path dir = Scratch::get().copy_good("config_types");
    const json good = json::parse(read_file(dir / "config.json"));
    auto with = [&](const char* key, const json& value) {
        json config = good;
        config[key] = value;
        write_file(dir / "config.json", config.dump(2));
    };
    with("tie_word_embeddings", 3);
    expect_model_rejected(dir, {"config.json", "type must be boolean"});
    with("eos_token_id", {"x"});
    expect_model_rejected(dir, {"config.json", "\"eos_token_id\" lists \"x\""});
    // Once crashed inspect (UBSan: signed overflow) and gave perplexity a bare
    // "vector::_M_default_append".
    with("num_hidden_layers", int64_t{1} << 62);
    expect_model_rejected(dir,
                          {"config.json", "\"num_hidden_layers\" is 4611686018427387904", "limit"});
}

TEST(CliModel, TokenizerMissing) {
    const fs::path dir = Scratch::get().copy_good("notok");
    fs::remove(dir / "tokenizer.json");
    expect_model_rejected(dir, {(dir / "tokenizer.json").string()}, false);
    const CliResult r = run_cli({"tokenize", "--model", dir.string(), "--text", "hi"});
    EXPECT_TRUE(fails_with(r, {"tokenizer.json"}));
}

TEST(CliModel, TokenizerMalformed) {
    const fs::path dir = Scratch::get().copy_good("badtok");
    write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
    expect_model_rejected(dir, {"tokenizer.json", "not valid JSON"}, false);
    write_file(dir / "tokenizer.json", "[1, 2]");
    expect_model_rejected(dir, {"tokenizer.json", "expected a JSON object"}, false);
}

TEST(CliModel, NonFloatDtypesAreRefused) {
    const fs::path good = Scratch::get().good();
    const CliResult compute = run_cli(generate_args(good, {"--prompt", "hi", "--dtype", "i32"}));
    EXPECT_TRUE(fails_with(compute, {"compute dtype i32", "not a float type"}));
    const CliResult kv = run_cli(generate_args(good, {"--prompt", "hi", "--kv-dtype", "i64"}));
    EXPECT_TRUE(fails_with(kv, {"KV cache dtype i64", "not a float type"}));
    const CliResult unknown = run_cli(generate_args(good, {"--prompt", "hi", "--dtype", "f8"}));
    EXPECT_TRUE(usage_error(unknown, {"--dtype", "unknown dtype 'f8'"}));
    const CliResult kv_unknown =
        run_cli(generate_args(good, {"--prompt", "hi", "--kv-dtype", "q4"}));
    EXPECT_TRUE(usage_error(kv_unknown, {"--kv-dtype", "unknown dtype 'q4'"}));
}

// ---- adapters -------------------------------------------------------------------------------

TEST(CliAdapter, AdapterForAnotherModel) {
    const std::string adapter = std::string(FERRIS_FIXTURES_DIR) + "/qwen2/tiny_untied_adapter";
    const CliResult r =
        run_cli(generate_args(Scratch::get().good(), {"--adapter", adapter, "--prompt", "hi",
                                                      "--max-tokens", "2", "--temperature", "0"}));
    EXPECT_TRUE(fails_with(r, {"tiny_untied_adapter", "another model"}));
}

TEST(CliAdapter, RankDisagreesWithConfig) {
    const fs::path dir = Scratch::get().root() / "adapter_r";
    fs::copy(std::string(FERRIS_FIXTURES_DIR) + "/qwen2/tiny_adapter", dir);
    json config = json::parse(read_file(dir / "adapter_config.json"));
    const int64_t r_true = config["r"].get<int64_t>();
    config["r"] = r_true + 1;
    write_file(dir / "adapter_config.json", config.dump(2));
    const CliResult r =
        run_cli(generate_args(Scratch::get().good(), {"--adapter", dir.string(), "--prompt", "hi",
                                                      "--max-tokens", "2", "--temperature", "0"}));
    EXPECT_TRUE(fails_with(r, {"adapter_model.safetensors", "has rank " + std::to_string(r_true),
                               "r=" + std::to_string(r_true + 1)}));
}

TEST(CliAdapter, ConfigWrongType) {
    const fs::path dir = Scratch::get().root() / "adapter_bias";
    fs::copy(std::string(FERRIS_FIXTURES_DIR) + "/qwen2/tiny_adapter", dir);
    json config = json::parse(read_file(dir / "adapter_config.json"));
    config["bias"] = 5;
    write_file(dir / "adapter_config.json", config.dump(2));
    const CliResult r = run_cli(
        generate_args(Scratch::get().good(), {"--adapter", dir.string(), "--prompt", "hi"}));
    EXPECT_TRUE(fails_with(r, {"adapter_config.json", "type must be string"}));
}

// Found by tests/fuzz (lora_config): a rank that is not an integer was cast, 1e300 undefinedly.
TEST(CliAdapter, RankNotAnInteger) {
    const fs::path dir = Scratch::get().root() / "adapter_r_float";
    fs::copy(std::string(FERRIS_FIXTURES_DIR) + "/qwen2/tiny_adapter", dir);
    json config = json::parse(read_file(dir / "adapter_config.json"));
    for (const json& rank : {json(8.5), json(1e300), json(true)}) {
        config["r"] = rank;
        write_file(dir / "adapter_config.json", config.dump(2));
        const CliResult r = run_cli(
            generate_args(Scratch::get().good(), {"--adapter", dir.string(), "--prompt", "hi"}));
        EXPECT_TRUE(fails_with(r, {"adapter_config.json", "\"r\" must be an integer"}))
            << rank.dump();
    }
}

TEST(CliAdapter, FolderMissingOrEmpty) {
    const fs::path dir = Scratch::get().root() / "no_such_adapter";
    const CliResult r = run_cli(
        generate_args(Scratch::get().good(), {"--adapter", dir.string(), "--prompt", "hi"}));
    EXPECT_TRUE(fails_with(r, {dir.string(), "not an adapter folder"}));
    fs::create_directory(dir);
    const CliResult empty = run_cli(
        generate_args(Scratch::get().good(), {"--adapter", dir.string(), "--prompt", "hi"}));
    EXPECT_TRUE(fails_with(empty, {"adapter_config.json", "cannot open"}));
}

// ---- context and text -----------------------------------------------------------------------

TEST(CliText, PromptLongerThanContext) {
    const fs::path prompt = Scratch::get().root() / "long_prompt.txt";
    std::string text;
    for (int i = 0; i < 50; ++i) text += "hello world ";
    write_file(prompt, text);
    const CliResult r =
        run_cli(generate_args(Scratch::get().good(), {"--prompt-file", prompt.string(), "--ctx",
                                                      "16", "--max-tokens", "4"}));
    EXPECT_TRUE(fails_with(r, {"prompt has", "more than the context of 16"}));
}

TEST(CliText, PerplexityNeedsTwoTokens) {
    const CliResult r = run_cli({"perplexity", "--model", Scratch::get().good().string(),
                                 "--device", "cpu", "--text", "hi"});
    EXPECT_TRUE(fails_with(r, {"at least 2 tokens", "got 1"}));
}

TEST(CliText, TextAndFileTogether) {
    const CliResult r = run_cli({"perplexity", "--model", Scratch::get().good().string(), "--text",
                                 "hi there", "--file", "/etc/hostname"});
    EXPECT_TRUE(fails_with(r, {"--text", "--file", "not both"}));
}

TEST(CliText, TokenizeMissingFile) {
    const fs::path missing = Scratch::get().root() / "no_such_text.txt";
    const CliResult r = run_cli(
        {"tokenize", "--model", Scratch::get().good().string(), "--file", missing.string()});
    EXPECT_TRUE(fails_with(r, {missing.string(), "cannot open"}));
}

TEST(CliText, TokenizeEmptyText) {
    const CliResult r =
        run_cli({"tokenize", "--model", Scratch::get().good().string(), "--text", "", "--json"});
    EXPECT_TRUE(ended_cleanly(r));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "{\"ids\":[]}\n");
}

// ---- usage errors (exit 2) and devices --------------------------------------------------------

TEST(CliUsage, UnknownOption) {
    EXPECT_TRUE(usage_error(run_cli({"generate", "--model", "m", "--prompt", "hi", "--bogus"}),
                            {"--bogus"}));
}

TEST(CliUsage, UnknownSubcommand) {
    EXPECT_TRUE(usage_error(run_cli({"bogus"}), {"bogus"}));
    EXPECT_TRUE(usage_error(run_cli({}), {"subcommand is required"}));
}

TEST(CliUsage, OutOfRangeSampling) {
    EXPECT_TRUE(usage_error(run_cli({"generate", "--model", "m", "--prompt", "hi", "--top-p", "0"}),
                            {"--top-p"}));
    EXPECT_TRUE(
        usage_error(run_cli({"generate", "--model", "m", "--prompt", "hi", "--temperature", "-1"}),
                    {"--temperature"}));
}

TEST(CliUsage, MissingModel) {
    EXPECT_TRUE(usage_error(run_cli({"generate", "--prompt", "hi"}), {"--model", "required"}));
    EXPECT_TRUE(usage_error(run_cli({"inspect"}), {"--model", "required"}));
}

TEST(CliDevice, CudaWithoutCuda) {
    const CliResult r = run_cli({"perplexity", "--model", Scratch::get().good().string(), "--text",
                                 "hi there", "--device", "cuda"});
    if (r.exited && r.exit_code == 0) GTEST_SKIP() << "this build has CUDA and a GPU";
    EXPECT_TRUE(fails_with(r, {"--device cuda"}));
}

TEST(CliDevice, UnknownDevice) {
    const CliResult r = run_cli({"perplexity", "--model", Scratch::get().good().string(), "--text",
                                 "hi there", "--device", "foo"});
    EXPECT_TRUE(usage_error(r, {"--device", "unknown device 'foo'"}));
}

// ---- create-model ---------------------------------------------------------------------------

TEST(CliCreateModel, NonEmptyFolderIsLeftAlone) {
    const fs::path dir = Scratch::get().root() / "user_folder";
    fs::create_directory(dir);
    write_file(dir / "notes.txt", "mine\n");
    write_file(dir / "config.json", "{\"model_type\": \"mine\"}");
    const Snapshot before = snapshot(dir);
    const CliResult r = run_cli({"create-model", "--preset", "tiny", "--out", dir.string()});
    EXPECT_TRUE(fails_with(r, {dir.string(), "not empty", "--force"}));
    EXPECT_TRUE(snapshot(dir) == before) << "create-model touched a non-empty folder";
}

TEST(CliCreateModel, UnknownPresetListsPresets) {
    const fs::path dir = Scratch::get().root() / "preset_out";
    const CliResult r = run_cli({"create-model", "--preset", "huge", "--out", dir.string()});
    EXPECT_TRUE(fails_with(r, {"unknown preset 'huge'", "tiny", "small", "qwen2.5-0.5b"}));
    EXPECT_FALSE(fs::exists(dir));
}

TEST(CliCreateModel, NonFloatDtypeIsRefused) {
    const fs::path dir = Scratch::get().root() / "int_out";
    const CliResult r =
        run_cli({"create-model", "--preset", "tiny", "--dtype", "i32", "--out", dir.string()});
    EXPECT_TRUE(fails_with(r, {"weight dtype i32", "not a float type"}));
    EXPECT_FALSE(fs::exists(dir));
}

TEST(CliCreateModel, UnwritableDestination) {
    const CliResult r = run_cli({"create-model", "--preset", "tiny", "--out", "/proc/forbidden/x"});
    EXPECT_TRUE(fails_with(r, {"/proc/forbidden/x"}));
}

// ---- happy paths ----------------------------------------------------------------------------

TEST(CliHappyPath, Version) {
    const CliResult r = run_cli({"--version"});
    EXPECT_TRUE(ended_cleanly(r));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "ferris 0.1.0\n");
}

TEST(CliHappyPath, GreedyJsonIsDeterministic) {
    const fs::path good = Scratch::get().good();
    const std::vector<std::string> args = generate_args(
        good,
        {"--prompt", "1 2 3", "--json", "--temperature", "0", "--max-tokens", "5", "--ignore-eos"});
    const CliResult a = run_cli(args);
    const json j = json_output(a);
    ASSERT_TRUE(j.is_object());
    ASSERT_TRUE(j["ids"].is_array());
    EXPECT_EQ(j["ids"].size(), 5u);
    EXPECT_EQ(j["stop_reason"], "length");
    EXPECT_TRUE(j["text"].is_string());
    const json tok =
        json_output(run_cli({"tokenize", "--model", good.string(), "--text", "1 2 3", "--json"}));
    EXPECT_EQ(j["prompt_ids"], tok["ids"]);
    const CliResult b = run_cli(args);
    EXPECT_EQ(b.exit_code, 0) << b.describe();
    EXPECT_EQ(a.out, b.out);
}

TEST(CliHappyPath, SeededSamplingIsReproducible) {
    const std::vector<std::string> args = generate_args(
        Scratch::get().good(), {"--prompt", "hello", "--json", "--seed", "7", "--temperature",
                                "0.8", "--max-tokens", "6", "--ignore-eos"});
    const CliResult a = run_cli(args);
    const json j = json_output(a);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["ids"].size(), 6u);
    const CliResult b = run_cli(args);
    EXPECT_EQ(b.exit_code, 0) << b.describe();
    EXPECT_EQ(a.out, b.out);
}

TEST(CliHappyPath, StopStringEndsGeneration) {
    const fs::path good = Scratch::get().good();
    auto greedy = [&](int n, std::vector<std::string> more) {
        std::vector<std::string> args = {"--prompt",        "1 2 3",       "--json",
                                         "--temperature",   "0",           "--max-tokens",
                                         std::to_string(n), "--ignore-eos"};
        args.insert(args.end(), more.begin(), more.end());
        return json_output(run_cli(generate_args(good, args)));
    };
    // The text of the 2nd generated token: what 2 greedy tokens add to 1.
    const std::string one = greedy(1, {})["text"].get<std::string>();
    const std::string two = greedy(2, {})["text"].get<std::string>();
    ASSERT_EQ(two.rfind(one, 0), 0u) << "'" << two << "' does not extend '" << one << "'";
    const std::string stop = two.substr(one.size());
    ASSERT_FALSE(stop.empty());
    ASSERT_FALSE(contains(one, stop)) << "pick a prompt whose first two tokens differ";

    const json j = greedy(8, {"--stop", stop});
    EXPECT_EQ(j["stop_reason"], "stop");
    const std::string text = j["text"].get<std::string>();
    EXPECT_FALSE(contains(text, stop)) << text;
    EXPECT_EQ(text, one);
}

TEST(CliHappyPath, PerplexityJson) {
    const fs::path good = Scratch::get().good();
    const std::string text = "Ferris reads Hugging Face checkpoints.";
    const json j =
        json_output(run_cli({"perplexity", "--model", good.string(), "--text", text, "--json"}));
    ASSERT_TRUE(j.is_object());
    for (const char* key : {"n_tokens", "nll", "ppl"}) EXPECT_TRUE(j.contains(key)) << key;
    const json tok =
        json_output(run_cli({"tokenize", "--model", good.string(), "--text", text, "--json"}));
    EXPECT_EQ(j["n_tokens"].get<size_t>(), tok["ids"].size());
    const double nll = j["nll"].get<double>(), ppl = j["ppl"].get<double>();
    EXPECT_TRUE(std::isfinite(nll) && nll > 0) << nll;
    EXPECT_NEAR(ppl, std::exp(nll), 1e-9 * std::exp(nll));
}

TEST(CliHappyPath, InspectJsonCountsParameters) {
    const fs::path good = Scratch::get().good();
    const json j =
        json_output(run_cli({"inspect", "--model", good.string(), "--json", "--tensors"}));
    ASSERT_TRUE(j.is_object());
    int64_t listed = 0;
    for (const json& t : j["tensors"])
        listed += ferris::shape_numel(t["shape"].get<ferris::Shape>());
    int64_t stored = 0;
    const ferris::io::Checkpoint ckpt = ferris::io::Checkpoint::open(good.string());
    for (const std::string& name : ckpt.names())
        stored += ferris::shape_numel(ckpt.info(name).shape);
    EXPECT_EQ(j["parameters"].get<int64_t>(), stored);
    EXPECT_EQ(listed, stored);
    EXPECT_EQ(j["tensors"].size(), ckpt.names().size());
    EXPECT_EQ(j["hidden_size"], 64);
    EXPECT_EQ(j["files"], 1);
    EXPECT_TRUE(j["problems"].empty());
}

}  // namespace
