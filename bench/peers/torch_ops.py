"""The GEMMs and elementwise ops of bench_ops, in PyTorch on the same card: what cuBLAS reaches
for these shapes with bf16 activations (torch's own kernels), for comparison with Ferris's f32
activations rounded per product. Usage: python3 torch_ops.py [--rows 7490] [--hidden 384]
"""
import argparse, statistics, time

import torch
import torch.nn.functional as F


def time_us(fn, repeat=9):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(10):
            fn()
        torch.cuda.synchronize()
        t.append((time.perf_counter() - t0) / 10 * 1e6)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=7490)
    ap.add_argument("--hidden", type=int, default=384)
    a = ap.parse_args()
    n, c = a.rows, a.hidden
    i = 4 * c
    dt = torch.bfloat16
    x = torch.randn(n, c, device="cuda", dtype=dt) * 0.1
    xi = torch.randn(n, i, device="cuda", dtype=dt) * 0.1
    wq = torch.randn(3 * c, c, device="cuda", dtype=dt) * 0.1
    bq = torch.randn(3 * c, device="cuda", dtype=dt) * 0.1
    wu = torch.randn(i, c, device="cuda", dtype=dt) * 0.1
    wd = torch.randn(c, i, device="cuda", dtype=dt) * 0.1
    for name, fn, flops in [
        ("torch linear qkv bf16", lambda: F.linear(x, wq, bq), 2 * n * c * 3 * c),
        ("torch linear up bf16", lambda: F.linear(x, wu), 2 * n * c * i),
        ("torch linear down bf16", lambda: F.linear(xi, wd), 2 * n * c * i),
        ("torch gelu bf16 (N,4C)", lambda: F.gelu(xi), 0),
        ("torch layer_norm bf16 (N,C)", lambda: F.layer_norm(x, (c,)), 0),
    ]:
        us = time_us(fn)
        print(f"{name:34s} {us:9.1f} us  {flops / us * 1e-6:7.1f} TFLOP/s")


if __name__ == "__main__":
    main()
