// The real ferris binary for `embed`, `search` and `create-model --arch bert|mpnet`: outputs
// checked by value (unit norms, .npy bytes equal to --json, search ranking), and bad input (empty
// files, blank lines, invalid UTF-8, over-long texts, folders that are not encoders, unsupported
// sentence-transformers modules) answered by one error line or a notice, never a crash.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_assertions.h"
#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using ferris::test::CliResult;
using ferris::test::run_cli;
using namespace ferris::test::assertions;

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// One scratch folder per process with a tiny BERT and a tiny MPNet made by create-model.
class Scratch {
public:
    static Scratch& get() {
        static Scratch s;
        return s;
    }
    const fs::path& root() const { return root_; }
    fs::path bert() {
        return model("bert", {"--arch", "bert", "--preset", "tiny", "--seed", "3",
                              "--max-seq-length", "16"});
    }
    fs::path mpnet() {
        return model("mpnet", {"--arch", "mpnet", "--preset", "tiny", "--seed", "4"});
    }

private:
    fs::path model(const std::string& name, std::vector<std::string> args) {
        const fs::path dir = root_ / name;
        if (!fs::exists(dir / "config.json")) {
            args.insert(args.begin(), "create-model");
            args.push_back("--out");
            args.push_back(dir.string());
            const CliResult r = run_cli(args);
            EXPECT_EQ(r.exit_code, 0) << r.describe();
        }
        return dir;
    }
    Scratch() {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferris-embed-XXXXXX";
        if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
        root_ = templ;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    fs::path root_;
};

std::vector<std::string> embed(const fs::path& model, std::vector<std::string> more) {
    std::vector<std::string> args = {"embed", "--model", model.string(), "--device", "cpu"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

double norm(const json& v) {
    double s = 0;
    for (const auto& x : v) s += x.get<double>() * x.get<double>();
    return std::sqrt(s);
}

TEST(CliEmbed, JsonGivesUnitVectorsDeterministically) {
    for (const fs::path& m : {Scratch::get().bert(), Scratch::get().mpnet()}) {
        const auto args = embed(m, {"--text", "hello world", "--text", "fn main() {}", "--json"});
        const json a = json_output(run_cli(args));
        ASSERT_EQ(a["dim"], 32);
        ASSERT_EQ(a["embeddings"].size(), 2u);
        for (const auto& v : a["embeddings"]) EXPECT_NEAR(norm(v), 1.0, 1e-5);
        EXPECT_NE(a["embeddings"][0], a["embeddings"][1]);
        EXPECT_EQ(json_output(run_cli(args)), a);
    }
}

// FERRIS_CPU_TRACE=1 (backends/cpu/op_trace.h): the per-op table on stderr at exit, the
// encoder's ops in it, stdout still the plain JSON.
TEST(CliEmbed, CpuTraceListsTheEncodersOpsOnStderr) {
    const auto args = embed(Scratch::get().bert(), {"--text", "hello world", "--json"});
    ::setenv("FERRIS_CPU_TRACE", "1", 1);
    const CliResult traced = run_cli(args);
    ::unsetenv("FERRIS_CPU_TRACE");
    ASSERT_EQ(traced.exit_code, 0) << traced.describe();
    EXPECT_NE(traced.err.find("cpu op trace"), std::string::npos) << traced.err;
    for (const char* op : {"linear", "attention", "add_layer_norm", "pool"})
        EXPECT_NE(traced.err.find(std::string("  ") + op + " "), std::string::npos) << op;
    EXPECT_EQ(json_output(traced), json_output(run_cli(args)));
    EXPECT_EQ(run_cli(args).err.find("cpu op trace"), std::string::npos);
}

TEST(CliEmbed, NpyAndJsonlHoldTheSameNumbersAsJson) {
    const fs::path dir = Scratch::get().root() / "outputs";
    fs::create_directories(dir);
    write_file(dir / "in.txt", "first passage\n\nsecond one, longer than the first\n");
    const fs::path m = Scratch::get().bert();
    const json j = json_output(run_cli(embed(m, {"--input", (dir / "in.txt").string(), "--json"})));
    ASSERT_EQ(j["embeddings"].size(), 2u);  // the blank line is skipped

    const CliResult npy = run_cli(
        embed(m, {"--input", (dir / "in.txt").string(), "--output", (dir / "v.npy").string()}));
    ASSERT_EQ(npy.exit_code, 0) << npy.describe();
    EXPECT_TRUE(contains(npy.err, "skipped 1 blank line"));
    const std::string bytes = read_file(dir / "v.npy");
    ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const size_t header =
        static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ((10 + header) % 64, 0u);
    EXPECT_TRUE(contains(bytes.substr(10, header), "'shape': (2, 32)"));
    ASSERT_EQ(bytes.size(), 10 + header + 2 * 32 * 4);
    for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 32; ++k) {
            float f;
            std::memcpy(&f, bytes.data() + 10 + header + (i * 32 + k) * 4, 4);
            EXPECT_EQ(f, j["embeddings"][i][k].get<float>());
        }

    const CliResult jl = run_cli(
        embed(m, {"--input", (dir / "in.txt").string(), "--output", (dir / "v.jsonl").string()}));
    ASSERT_EQ(jl.exit_code, 0) << jl.describe();
    std::istringstream lines(read_file(dir / "v.jsonl"));
    std::string line;
    std::vector<json> rows;
    while (std::getline(lines, line)) rows.push_back(json::parse(line));
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1]["text"], "second one, longer than the first");
    EXPECT_EQ(rows[1]["embedding"], j["embeddings"][1]);
}

TEST(CliEmbed, InvalidUtf8IsReplacedWithAWarningNamingTheLine) {
    const fs::path f = Scratch::get().root() / "bad_utf8.txt";
    write_file(f, "fine line\nbroken \xff\xfe bytes\n\xe2\x82 cut\n");
    const json j =
        json_output(run_cli(embed(Scratch::get().bert(), {"--input", f.string(), "--json"})));
    EXPECT_EQ(j["embeddings"].size(), 3u);
    const CliResult r = run_cli(embed(Scratch::get().bert(), {"--input", f.string(), "--json"}));
    EXPECT_TRUE(contains(r.err, f.string() + ":2: 2 invalid UTF-8")) << r.err;
    EXPECT_TRUE(contains(r.err, f.string() + ":3: 1 invalid UTF-8")) << r.err;
}

TEST(CliEmbed, LongTextIsTruncatedWithANotice) {
    std::string longer;
    for (int i = 0; i < 40; ++i) longer += "word" + std::to_string(i) + " ";
    const CliResult r = run_cli(embed(Scratch::get().bert(), {"--text", longer, "--json"}));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "1 text(s) longer than 16 tokens were truncated")) << r.err;
}

TEST(CliEmbed, EmptyInputFileIsAnError) {
    const fs::path f = Scratch::get().root() / "empty.txt";
    write_file(f, "\n  \n");
    EXPECT_TRUE(fails_with(run_cli(embed(Scratch::get().bert(), {"--input", f.string()})),
                           {f.string(), "no text to embed"}));
}

TEST(CliEmbed, MissingInputFileIsAnError) {
    const fs::path f = Scratch::get().root() / "nope.txt";
    EXPECT_TRUE(
        fails_with(run_cli(embed(Scratch::get().bert(), {"--input", f.string()})), {f.string()}));
}

TEST(CliEmbed, TextAndInputTogetherOrNeither) {
    EXPECT_TRUE(fails_with(run_cli(embed(Scratch::get().bert(), {})), {"--text or --input"}));
    const fs::path f = Scratch::get().root() / "one.txt";
    write_file(f, "x\n");
    EXPECT_TRUE(
        fails_with(run_cli(embed(Scratch::get().bert(), {"--text", "a", "--input", f.string()})),
                   {"--text or --input"}));
}

TEST(CliEmbed, OutputNameMustSayItsFormat) {
    const fs::path out = Scratch::get().root() / "vectors.txt";
    EXPECT_TRUE(
        fails_with(run_cli(embed(Scratch::get().bert(), {"--text", "a", "--output", out.string()})),
                   {".jsonl or .npy"}));
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliEmbed, UnwritableOutputLeavesNothingBehind) {
    const fs::path out = Scratch::get().root() / "no_such_dir" / "v.npy";
    const CliResult r =
        run_cli(embed(Scratch::get().bert(), {"--text", "a", "--output", out.string()}));
    EXPECT_TRUE(fails_with(r, {"no_such_dir"}));
    EXPECT_FALSE(fs::exists(out.parent_path()));
}

TEST(CliEmbed, DecoderFolderIsNotAnEncoder) {
    const fs::path q = Scratch::get().root() / "qwen";
    ASSERT_EQ(run_cli({"create-model", "--arch", "qwen2", "--preset", "tiny", "--out", q.string()})
                  .exit_code,
              0);
    EXPECT_TRUE(fails_with(run_cli(embed(q, {"--text", "a"})),
                           {"config.json", "qwen2", "not a supported sentence encoder"}));
}

TEST(CliEmbed, UnsupportedSentenceTransformersModuleIsNamed) {
    const fs::path m = Scratch::get().root() / "dense";
    fs::copy(Scratch::get().bert(), m, fs::copy_options::recursive);
    json modules = json::parse(read_file(m / "modules.json"));
    modules.push_back({{"idx", 3},
                       {"name", "3"},
                       {"path", "3_Dense"},
                       {"type", "sentence_transformers.models.Dense"}});
    write_file(m / "modules.json", modules.dump());
    EXPECT_TRUE(
        fails_with(run_cli(embed(m, {"--text", "a"})),
                   {"modules.json", "sentence_transformers.models.Dense", "not implemented"}));
}

TEST(CliEmbed, ModelTypeMustFitTheFolder) {
    EXPECT_TRUE(fails_with(
        run_cli(embed(Scratch::get().bert(), {"--text", "a", "--model-type", "e5-small-v2"})),
        {"not that model type"}));
    EXPECT_TRUE(
        usage_error(run_cli(embed(Scratch::get().bert(), {"--text", "a", "--batch-tokens", "-5"})),
                    {"--batch-tokens"}));
}

// A value an option's parser refuses is a usage error naming the option, as a range is.
TEST(CliEmbed, UnknownOptionValuesAreUsageErrors) {
    const fs::path m = Scratch::get().bert();
    EXPECT_TRUE(usage_error(run_cli(embed(m, {"--text", "a", "--pooling", "foo"})),
                            {"--pooling", "pooling 'foo'", "mean, cls or max"}));
    EXPECT_TRUE(usage_error(run_cli(embed(m, {"--text", "a", "--model-type", "e5"})),
                            {"--model-type", "model type 'e5'"}));
    EXPECT_TRUE(usage_error(run_cli(embed(m, {"--text", "a", "--dtype", "f8"})),
                            {"--dtype", "unknown dtype 'f8'"}));
    EXPECT_TRUE(usage_error(run_cli({"search", "--model", m.string(), "--corpus", "c.txt",
                                     "--query", "q", "--device", "tpu"}),
                            {"--device", "unknown device 'tpu'"}));
}

TEST(CliEmbed, MissingTensorIsNamed) {
    const fs::path m = Scratch::get().root() / "broken";
    fs::copy(Scratch::get().mpnet(), m, fs::copy_options::recursive);
    json cfg = json::parse(read_file(m / "config.json"));
    cfg["num_hidden_layers"] = 3;
    write_file(m / "config.json", cfg.dump());
    EXPECT_TRUE(
        fails_with(run_cli(embed(m, {"--text", "a"})),
                   {"model.safetensors", "missing encoder.layer.2.attention.attn.q.weight"}));
}

TEST(CliInspect, EncoderFolderShowsPoolingAndParameters) {
    const json j =
        json_output(run_cli({"inspect", "--model", Scratch::get().mpnet().string(), "--json"}));
    EXPECT_EQ(j["model_type"], "mpnet");
    EXPECT_EQ(j["pooling"], "mean");
    EXPECT_EQ(j["normalize"], true);
    EXPECT_EQ(j["max_tokens"], 512);
    EXPECT_EQ(j["problems"].size(), 0u);
    // tiny MPNet: embeddings (30527 + 514) x 32 + LN 64, bias table 32 x 4, two layers of
    // 4 (32x32 + 32) + 2 x 32 x 64 + 64 + 32 + 4 x 32.
    EXPECT_EQ(j["parameters"], (30527 + 514) * 32 + 64 + 32 * 4 +
                                   2 * (4 * (32 * 32 + 32) + 2 * 32 * 64 + 64 + 32 + 4 * 32));
}

TEST(CliSearch, FindsTheIdenticalPassageFirst) {
    const fs::path corpus = Scratch::get().root() / "corpus.txt";
    write_file(corpus,
               "rust ownership and borrowing\nhow to bake sourdough bread\n"
               "low-rank adapters for fine-tuning\nthe capital of france is paris\n");
    for (const fs::path& m : {Scratch::get().bert(), Scratch::get().mpnet()}) {
        const json j = json_output(run_cli(
            {"search", "--model", m.string(), "--device", "cpu", "--corpus", corpus.string(),
             "--query", "low-rank adapters for fine-tuning", "--top-k", "3", "--json"}));
        ASSERT_EQ(j["results"].size(), 3u);
        EXPECT_EQ(j["results"][0]["line"], 3);
        EXPECT_NEAR(j["results"][0]["score"].get<double>(), 1.0, 1e-5);
        EXPECT_GE(j["results"][0]["score"], j["results"][1]["score"]);
        EXPECT_GE(j["results"][1]["score"], j["results"][2]["score"]);
    }
}

TEST(CliSearch, EmptyCorpusIsAnError) {
    const fs::path corpus = Scratch::get().root() / "empty_corpus.txt";
    write_file(corpus, "");
    EXPECT_TRUE(fails_with(run_cli({"search", "--model", Scratch::get().bert().string(), "--corpus",
                                    corpus.string(), "--query", "x"}),
                           {corpus.string(), "no passages"}));
}

// `search --index F`: the passages' vectors kept in F. Later searches reuse them (and rank as a
// search without the index does), embed only new or changed passages, rebuild F for other options,
// and never overwrite a file that is not an index.
std::vector<std::string> search(const fs::path& corpus, const fs::path& index,
                                std::vector<std::string> more = {}) {
    std::vector<std::string> args = {
        "search",        "--model", Scratch::get().bert().string(), "--device", "cpu", "--corpus",
        corpus.string(), "--query", "adapters for fine-tuning",     "--top-k",  "10",  "--json"};
    if (!index.empty()) args.insert(args.end(), {"--index", index.string()});
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// The same passages in the same order, scores within 1e-6 (a text's vector does not depend on
// what it was batched with, to that tolerance).
void expect_same_ranking(const json& a, const json& b) {
    ASSERT_EQ(a["results"].size(), b["results"].size());
    for (size_t i = 0; i < a["results"].size(); ++i) {
        EXPECT_EQ(a["results"][i]["line"], b["results"][i]["line"]) << "rank " << i + 1;
        EXPECT_NEAR(a["results"][i]["score"].get<double>(), b["results"][i]["score"].get<double>(),
                    1e-6);
    }
}

// An indexed search: exit 0, `stderr_has` on stderr, and the ranking of a search without the index.
json indexed_search(const fs::path& corpus, const fs::path& index, const std::string& stderr_has,
                    const std::vector<std::string>& more = {}) {
    const CliResult r = run_cli(search(corpus, index, more));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, stderr_has)) << r.err;
    const json results = json_output(r);
    expect_same_ranking(results, json_output(run_cli(search(corpus, {}, more))));
    return results;
}

TEST(CliSearch, IndexIsReusedAndRanksAsWithout) {
    const fs::path corpus = Scratch::get().root() / "indexed.txt";
    const fs::path index = Scratch::get().root() / "indexed.idx";
    write_file(corpus,
               "rust ownership and borrowing\nhow to bake sourdough bread\n"
               "low-rank adapters for fine-tuning\nthe capital of france is paris\n"
               "gradient clipping keeps updates small\ntokenizers split text into ids\n");
    const json built =
        indexed_search(corpus, index, "0 vector(s) reused, 6 passage(s) embedded, file written");
    const std::string bytes = read_file(index);
    EXPECT_EQ(indexed_search(corpus, index, "6 vector(s) reused, 0 passage(s) embedded\n"), built);
    EXPECT_EQ(read_file(index), bytes) << "an unchanged corpus rewrote the index";

    // One line changed, one removed, one added: only the two new texts are embedded.
    write_file(corpus,
               "rust ownership and borrowing\nhow to bake rye bread\n"
               "low-rank adapters for fine-tuning\ngradient clipping keeps updates small\n"
               "tokenizers split text into ids\nattention masks hide padding\n");
    indexed_search(corpus, index, "4 vector(s) reused, 2 passage(s) embedded, file written");

    // Another pooling gives other vectors: the index is rebuilt, not reused.
    indexed_search(corpus, index,
                   "built with other model files or options: rebuilding it\n[ferris] index " +
                       index.string() + ": 0 vector(s) reused, 6 passage(s) embedded",
                   {"--pooling", "cls"});
    indexed_search(corpus, index, "6 vector(s) reused", {"--pooling", "cls"});
}

// The index in the model folder itself: its own writes do not make it look out of date.
TEST(CliSearch, IndexKeptInTheModelFolderIsReused) {
    const fs::path corpus = Scratch::get().root() / "in_model.txt";
    write_file(corpus, "one passage\nanother passage\n");
    const fs::path index = Scratch::get().bert() / "corpus.idx";
    indexed_search(corpus, index, "0 vector(s) reused, 2 passage(s) embedded, file written");
    indexed_search(corpus, index, "2 vector(s) reused, 0 passage(s) embedded\n");
    fs::remove(index);
}

// A NaN in the file's vectors (no safetensors checksum would catch a damaged byte) is not ranked
// with: the index is rebuilt.
TEST(CliSearch, IndexWithNonFiniteValuesIsRebuilt) {
    const fs::path corpus = Scratch::get().root() / "damaged.txt";
    const fs::path index = Scratch::get().root() / "damaged.idx";
    write_file(corpus, "one passage\nanother passage\na third one\n");
    indexed_search(corpus, index, "0 vector(s) reused, 3 passage(s) embedded, file written");
    std::string bytes = read_file(index);
    uint64_t header = 0;
    std::memcpy(&header, bytes.data(), 8);
    const json meta = json::parse(bytes.substr(8, header));
    const size_t at = 8 + header + meta["embeddings"]["data_offsets"][0].get<size_t>() + 4 * 40;
    const uint32_t nan = 0x7fc00000u;
    bytes.replace(at, 4, reinterpret_cast<const char*>(&nan), 4);
    write_file(index, bytes);
    indexed_search(corpus, index,
                   "non-finite values: rebuilding it\n[ferris] index " + index.string() +
                       ": 0 vector(s) reused, 3 passage(s) embedded, file written");
}

TEST(CliSearch, IndexThatIsNotAnIndexIsRefusedAndKept) {
    const fs::path corpus = Scratch::get().root() / "refused.txt";
    write_file(corpus, "one passage\nanother passage\n");
    const std::string text = "notes the user keeps\n";
    write_file(Scratch::get().root() / "notes.txt", text);
    EXPECT_TRUE(fails_with(run_cli(search(corpus, Scratch::get().root() / "notes.txt")),
                           {"notes.txt", "not a Ferris search index", "remove it"}));
    EXPECT_EQ(read_file(Scratch::get().root() / "notes.txt"), text);

    const fs::path weights = Scratch::get().bert() / "model.safetensors";
    const std::string before = read_file(weights);
    EXPECT_TRUE(fails_with(run_cli(search(corpus, weights)),
                           {"not a Ferris search index", "ferris-search-index"}));
    EXPECT_EQ(read_file(weights), before);

    EXPECT_TRUE(fails_with(run_cli(search(corpus, Scratch::get().root() / "no" / "x.idx")),
                           {"x.idx", "does not exist"}));
    EXPECT_TRUE(fails_with(run_cli(search(corpus, Scratch::get().root())), {"a folder"}));
}

// Several queries, from --query and --queries, are embedded together and grouped in the output;
// each ranks as it does alone.
TEST(CliSearch, SeveralQueriesAreGroupedAndEachRanksAsAlone) {
    const fs::path corpus = Scratch::get().root() / "multi.txt";
    write_file(corpus,
               "rust ownership and borrowing\nhow to bake sourdough bread\n"
               "low-rank adapters for fine-tuning\nthe capital of france is paris\n");
    const fs::path queries = Scratch::get().root() / "queries.txt";
    write_file(queries, "bread recipes\n\nfrench cities\n");  // the blank line is skipped
    const auto run = [&](std::vector<std::string> what) {
        std::vector<std::string> args = {
            "search",        "--model", Scratch::get().mpnet().string(),
            "--device",      "cpu",     "--corpus",
            corpus.string(), "--top-k", "4"};
        args.insert(args.end(), what.begin(), what.end());
        return run_cli(args);
    };
    const json both =
        json_output(run({"--query", "adapters", "--queries", queries.string(), "--json"}));
    ASSERT_EQ(both["queries"].size(), 3u);
    const std::vector<std::string> texts = {"adapters", "bread recipes", "french cities"};
    for (size_t i = 0; i < texts.size(); ++i) {
        EXPECT_EQ(both["queries"][i]["query"], texts[i]);
        expect_same_ranking(both["queries"][i], json_output(run({"--query", texts[i], "--json"})));
    }
    const CliResult text = run({"--query", "adapters", "--query", "bread recipes"});
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    EXPECT_EQ(text.out.rfind("query 1: adapters\n", 0), 0u) << text.out;
    EXPECT_TRUE(contains(text.out, "\n\nquery 2: bread recipes\n")) << text.out;

    EXPECT_TRUE(usage_error(run({}), {"--query", "--queries"}));
    const fs::path none = Scratch::get().root() / "no_queries.txt";
    write_file(none, "\n  \n");
    EXPECT_TRUE(fails_with(run({"--queries", none.string()}), {"no_queries.txt", "no queries"}));
}

}  // namespace
