#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs (corpus/<target>/seed-*) from the repository's assets.

Seeds are small, valid (or nearly valid) inputs from which libFuzzer mutates; the corpus folders
also keep the inputs of crashes once fixed (crash-*, named by libFuzzer). Run from anywhere:
    python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> the file's bytes."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = compact(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def small_wordpiece(path, keep_ids):
    """The embedded WordPiece tokenizer with its vocabulary cut to the ids kept (renumbered)."""
    t = json.load(open(path))
    vocab = sorted(t["model"]["vocab"].items(), key=lambda kv: kv[1])
    kept = [tok for tok, i in vocab if i in keep_ids]
    t["model"]["vocab"] = {tok: i for i, tok in enumerate(kept)}
    new_id = {tok: i for i, tok in enumerate(kept)}
    t["added_tokens"] = [dict(a, id=new_id[a["content"]]) for a in t["added_tokens"] if a["content"] in new_id]
    for special in (t.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [new_id[tok] for tok in special["tokens"]]
    return compact(t)


def small_bpe(path, merges):
    """The embedded byte-level BPE with its first `merges` merges and the tokens they need."""
    t = json.load(open(path))
    vocab = t["model"]["vocab"]
    kept = [m for m in t["model"]["merges"][:merges]]
    tokens = set(tok for tok, i in vocab.items() if i < 256)  # the byte alphabet
    for a, b in kept:
        tokens.update([a, b, a + b])
    order = sorted(tokens, key=lambda tok: vocab[tok])
    t["model"]["vocab"] = {tok: i for i, tok in enumerate(order)}
    t["model"]["merges"] = kept
    t["added_tokens"] = [dict(a, id=len(order) + k) for k, a in enumerate(t["added_tokens"][:3])]
    return compact(t)


def main():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    write("safetensors", "f32", safetensors([("a", "F32", [2, 2], f32(1, 2, 3, 4)),
                                             ("b.weight", "F32", [3], f32(5, 6, 7))]))
    write("safetensors", "mixed", safetensors(
        [("w", "BF16", [2, 3], b"\x80\x3f" * 6), ("h", "F16", [2], b"\x00\x3c" * 2),
         ("ids", "I64", [2], struct.pack("<2q", 7, -1)), ("scalar", "F32", [], f32(1.5)),
         ("empty", "F32", [0, 4], b"")],
        metadata={"format": "pt", "fingerprint": "x"}))
    write("safetensors", "index", safetensors(
        [("embeddings", "F32", [2, 2], f32(0.6, 0.8, 1, 0)),
         ("text_hashes", "I64", [2], struct.pack("<2q", 1, 2))],
        metadata={"format": "ferris-search-index", "version": "1"}))

    write("checkpoint_index", "both", compact(
        {"metadata": {"total_size": 40},
         "weight_map": {"a": "model-00001-of-00001.safetensors", "b": "model-00001-of-00001.safetensors"}}))
    write("checkpoint_index", "missing", compact({"weight_map": {"c": "model-00002-of-00002.safetensors"}}))

    bert = os.path.join(ROOT, "assets/bert-base-uncased/tokenizer.json")
    mpnet = os.path.join(ROOT, "assets/mpnet/tokenizer.json")
    qwen = os.path.join(ROOT, "assets/qwen2.5/tokenizer.json")
    keep = set(range(0, 1000, 7)) | {0, 100, 101, 102, 103} | set(range(1996, 2100)) | set(range(29000, 29100))
    write("tokenizer_json", "bert", small_wordpiece(bert, keep))
    write("tokenizer_json", "mpnet", small_wordpiece(mpnet, {i + 4 for i in keep} | {0, 1, 2, 3, 30526}))  # ids after <s> <pad> </s> <unk>
    write("tokenizer_json", "qwen", small_bpe(qwen, 300))

    texts = {
        "ascii": "Hello, world! How's it going? 1234 + 5678 = 6912",
        "accents": "Café naïve ÀÉÎ déjà-vu Ångström façade",
        "cjk": "日本語のテキスト 中文 한국어 ｆｕｌｌｗｉｄｔｈ",
        "emoji": "emoji 🙂👍🏽 👨‍👩‍👧 flags 🇫🇷 and \t tabs \r\n newlines",
        "special": "<|im_start|>user\nhi<|im_end|> [CLS] x [SEP] <s></s><mask>",
        "code": "def f(x):\n    return x ** 2  # comment\n\tprint(f'{x!r}')",
    }
    for name, text in texts.items():
        write("tokenize", name, text)
    write("tokenize", "invalid-utf8", b"bad \xff\xfe bytes \xc3 and \xe2\x82 cut \xf0\x9f\x99")
    write("tokenize", "nfd", "cafe\u0301 n\u0303 A\u030a")

    with open(os.path.join(ROOT, "assets/bert-base-uncased/tokenizer.json")) as f:
        bert_vocab = sorted(json.load(f)["model"]["vocab"].items(), key=lambda kv: kv[1])
    small_vocab = "\n".join(tok for tok, i in bert_vocab if i in keep) + "\n"
    write("wordpiece_vocab", "vocab", small_vocab)
    write("wordpiece_vocab", "vocab-config", small_vocab + "\0" + compact(
        {"do_lower_case": False, "strip_accents": True, "model_max_length": 512,
         "added_tokens_decoder": {"0": {"content": "[PAD]", "special": True}}}))

    encoder = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "intermediate_size": 1536,
               "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 512,
               "type_vocab_size": 2, "pad_token_id": 0, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
               "position_embedding_type": "absolute", "torch_dtype": "float32", "architectures": ["BertModel"]}
    write("model_configs", "bert", compact(encoder))
    write("model_configs", "mpnet", compact(dict(
        encoder, model_type="mpnet", vocab_size=30527, hidden_size=768, intermediate_size=3072,
        max_position_embeddings=514, pad_token_id=1, layer_norm_eps=1e-5, relative_attention_num_buckets=32,
        architectures=["MPNetForMaskedLM"])))
    qwen_config = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936,
                   "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                   "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
                   "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
                   "torch_dtype": "bfloat16", "hidden_act": "silu", "bos_token_id": 151643,
                   "eos_token_id": 151643, "use_sliding_window": False, "attention_dropout": 0.0}
    write("model_configs", "qwen2", compact(qwen_config))
    q5 = dict(qwen_config, dtype="bfloat16", rope_parameters={"rope_theta": 1000000.0, "rope_type": "default"},
              eos_token_id=[151645, 151643])
    del q5["torch_dtype"], q5["rope_theta"]
    write("model_configs", "qwen2-t5", compact(q5))

    # The tiny presets' configs, as create-model writes them, for the folder targets.
    tiny_bert = {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
                 "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02,
                 "intermediate_size": 64, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
                 "model_type": "bert", "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0,
                 "position_embedding_type": "absolute", "torch_dtype": "float32", "type_vocab_size": 2,
                 "vocab_size": 30522}
    write("encoder_folder", "tiny-bert", compact(tiny_bert))
    tiny_mpnet = dict(tiny_bert, architectures=["MPNetModel"], bos_token_id=0, eos_token_id=2,
                      layer_norm_eps=1e-5, max_position_embeddings=514, model_type="mpnet", pad_token_id=1,
                      relative_attention_num_buckets=32, vocab_size=30527)
    del tiny_mpnet["position_embedding_type"], tiny_mpnet["type_vocab_size"]
    write("encoder_folder", "tiny-mpnet", compact(tiny_mpnet))
    write("encoder_folder", "one-layer-f16", compact(dict(tiny_bert, num_hidden_layers=1, torch_dtype="float16")))

    tiny_qwen2 = dict(qwen_config, hidden_size=64, intermediate_size=128, max_position_embeddings=4096,
                      num_attention_heads=4, num_hidden_layers=2, num_key_value_heads=2, max_window_layers=2,
                      rope_scaling=None, sliding_window=None, use_cache=True)
    generation = {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": False}
    write("qwen2_folder", "tiny", compact(tiny_qwen2))
    write("qwen2_folder", "tiny-generation", compact(tiny_qwen2) + "\0" + compact(generation))

    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    pooling = {"word_embedding_dimension": 768, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}
    write("sentence_config", "mean-normalize", "\0".join(
        [compact(modules), compact(pooling), compact({"max_seq_length": 384, "do_lower_case": False})]))
    write("sentence_config", "cls", "\0".join(
        [compact(modules[:2]), compact(dict(pooling, pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)), ""]))

    write("lora_config", "peft", compact(
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "bias": "none",
         "target_modules": ["q_proj", "v_proj"], "use_rslora": False, "task_type": "CAUSAL_LM",
         "base_model_name_or_path": "Qwen/Qwen2.5-0.5B"}))
    write("lora_config", "regex", compact({"r": 4, "target_modules": ".*proj", "use_rslora": True}))

    write("text_lines", "lines", "first line\n\n  \nsecond\r\nthird with \xe9 accents\nlast no newline")
    write("text_lines", "invalid", b"ok\n\xff\xfe\n\xc3(\n\xed\xa0\x80 surrogate\n\xf4\x90\x80\x80 too high\n\xc0\xaf overlong")


if __name__ == "__main__":
    main()
