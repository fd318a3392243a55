#!/usr/bin/env python3
"""Where the GPU waits: summarizes a CSV from dev/cupti_trace.cpp.

The GPU's work (kernels, copies, memsets) is cut into bursts wherever it idles longer than
--split us (an encode of bench_embed is one burst when it is well pipelined). For the bursts of
the largest kind it prints the median burst: its length, the time the GPU was busy, the gaps
between one activity and the next by size, the largest gaps with what came before and after and
whether the host was late (the launch call returned after the previous activity had ended), and
the busy time by kernel family at the clocks the program really ran at.

Usage: trace_gaps.py trace.csv [--split US] [--top N]
"""
import argparse
import csv
import statistics
from collections import defaultdict


def family(name):
    n = name.lower()
    for key, fam in (("gemm_sm90a", "up + gelu (gemm_sm90a)"), ("gemm", "gemm"), ("xmma", "gemm"), ("cutlass", "gemm"), ("nvjet", "gemm"),
                     ("attention", "attention"),
                     ("gelu", "gelu"), ("layer_norm", "layer_norm"), ("embedding", "embedding"),
                     ("pool", "pool"), ("memcpy", "memcpy"), ("memset", "memset")):
        if key in n:
            return fam
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--split", type=float, default=300.0, help="idle us that ends a burst")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()

    gpu, launch_end = [], {}
    with open(args.trace, newline="") as f:
        for row in csv.DictReader(f):
            start, end, corr = int(row["start"]), int(row["end"]), int(row["correlation"])
            if row["kind"] == "runtime":
                launch_end[corr] = end
            else:
                gpu.append((start, end, corr, row["name"]))
    gpu.sort()
    if not gpu:
        print("no GPU activity in the trace")
        return

    bursts, current = [], [gpu[0]]
    for a in gpu[1:]:
        if a[0] - max(x[1] for x in current[-4:]) > args.split * 1000:
            bursts.append(current)
            current = []
        current.append(a)
    bursts.append(current)
    sizes = defaultdict(list)
    for b in bursts:
        sizes[len(b)].append(b)
    print(f"{len(gpu)} GPU activities in {len(bursts)} bursts; activities a burst: "
          + ", ".join(f"{n} x{len(v)}" for n, v in sorted(sizes.items())))
    largest = max(sizes.items(), key=lambda kv: (kv[0] * len(kv[1])))[1]
    largest.sort(key=lambda b: b[-1][1] - b[0][0])
    b = largest[len(largest) // 2]
    lengths = [(x[-1][1] - x[0][0]) / 1e6 for x in largest]
    print(f"bursts of {len(b)} activities: {len(largest)}, length ms min {min(lengths):.3f} "
          f"median {statistics.median(lengths):.3f} max {max(lengths):.3f}")

    busy, gaps, by_family = 0, [], defaultdict(float)
    reach = b[0][1]
    busy = b[0][1] - b[0][0]
    by_family[family(b[0][3])] += (b[0][1] - b[0][0]) / 1e3
    for prev_i, a in enumerate(b[1:]):
        start, end, corr, name = a
        by_family[family(name)] += (end - start) / 1e3
        if start > reach:
            late = launch_end.get(corr, 0) > reach
            gaps.append(((start - reach) / 1e3, late, b[prev_i][3], name))
            busy += end - start
        else:
            busy += max(0, end - reach)
        reach = max(reach, end)
    length = (b[-1][1] - b[0][0]) / 1e6
    print(f"median burst: {length:.3f} ms, GPU busy {busy / 1e6:.3f} ms, idle "
          f"{length - busy / 1e6:.3f} ms in {len(gaps)} gaps "
          f"({sum(1 for g in gaps if g[1])} of them with the host late, "
          f"{sum(g[0] for g in gaps if g[1]) / 1e3:.3f} ms)")
    for lo, hi in ((0, 2), (2, 5), (5, 20), (20, 100), (100, 1e9)):
        sel = [g[0] for g in gaps if lo <= g[0] < hi]
        print(f"  gaps {lo}-{hi if hi < 1e9 else 'inf'} us: {len(sel)}, {sum(sel) / 1e3:.3f} ms")
    print("largest gaps (us, host late?, before -> after):")
    for g in sorted(gaps, reverse=True)[: args.top]:
        print(f"  {g[0]:8.1f} {'late' if g[1] else '    '} {g[2][:60]} -> {g[3][:60]}")
    print("busy time by family (ms, at the clocks of the run):")
    for fam, us in sorted(by_family.items(), key=lambda kv: -kv[1]):
        print(f"  {fam:11s} {us / 1e3:7.3f}")
    idx = bursts.index(b)
    if idx > 0:
        print(f"idle before this burst: {(b[0][0] - bursts[idx - 1][-1][1]) / 1e6:.3f} ms")


if __name__ == "__main__":
    main()
