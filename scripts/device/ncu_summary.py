"""Sums an `ncu --csv --metrics gpu__time_duration.sum` report per kernel: total, calls, mean.
Usage: python3 ncu_summary.py REPORT.csv [TOP]"""
import csv, sys
from collections import defaultdict


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    totals = defaultdict(lambda: [0.0, 0])
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].split("(")[0][:60]
        value = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "ns")
        ns = value * {"ns": 1, "nsecond": 1, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6}.get(unit, 1)
        totals[name][0] += ns
        totals[name][1] += 1
    grand = sum(t for t, _ in totals.values())
    print(f"{'kernel':60s} {'total us':>10s} {'calls':>6s} {'mean us':>8s} {'share':>6s}")
    for name, (t, n) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{name:60s} {t / 1e3:10.1f} {n:6d} {t / n / 1e3:8.2f} {100 * t / grand:5.1f}%")
    print(f"{'all kernels':60s} {grand / 1e3:10.1f}")


if __name__ == "__main__":
    main()
