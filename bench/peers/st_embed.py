"""sentence-transformers peer for bench_embed: the same model folder, the same texts, text in ->
unit vectors out on the GPU in fp16 (as ../shared/bench measured it), synchronized, median of
repeats after warm-up. Prints one JSON line per size. --device cpu runs it on the CPU instead, in
float32 (sentence-transformers' default) or --dtype bf16, on --threads threads (torch's default:
the physical cores).
Usage: python3 st_embed.py MODEL_DIR DOCS_JSON [--sizes 1,100,1000] [--repeat 10]
                           [--device cuda|cpu] [--dtype f16|f32|bf16] [--threads N]
"""
import argparse, json, statistics, time

import torch
from sentence_transformers import SentenceTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("docs")
    ap.add_argument("--sizes", default="1,100,1000")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dtype", default=None, choices=["f16", "f32", "bf16"])
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    dtype = a.dtype or ("f16" if a.device == "cuda" else "f32")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    docs = json.load(open(a.docs))
    st = SentenceTransformer(a.model, device=a.device)
    if dtype == "f16":
        st.half()
    elif dtype == "bf16":
        st.to(torch.bfloat16)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for n in [int(x) for x in a.sizes.split(",")]:
        texts = docs[:n] if n > 1 else ["how do I fine-tune a model with LoRA?"]
        run = lambda: st.encode(texts, batch_size=max(n, 32) if n <= 128 else 128,
                                convert_to_tensor=True)
        for _ in range(3):
            run()
        sync()
        ms = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            run()
            sync()
            ms.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps({"peer": f"sentence-transformers {a.device} {dtype}", "model": a.model,
                          "threads": torch.get_num_threads(), "texts": n,
                          "median_ms": statistics.median(ms), "min_ms": min(ms),
                          "texts_per_s": n / statistics.median(ms) * 1e3}), flush=True)


if __name__ == "__main__":
    main()
