#!/usr/bin/env python3
"""Sums `ncu --csv --page raw --metrics gpu__time_duration.sum` output by kernel:
one row per kernel name (launches, total and mean time, share of all kernel time),
largest first, so a profile says at a glance where a forward pass spends its GPU time.

  ncu --csv --page raw --metrics gpu__time_duration.sum PROGRAM ... > k.csv
  python3 tools/ncu_kernel_table.py k.csv [--top 20] [--per N]

--per N divides the totals by N (e.g. the number of forward passes profiled);
--per-launch-of TEXT divides them by the launches of the kernel whose name holds
TEXT (a kernel that runs once per forward pass, such as the embedding).
"""
import argparse
import csv
import sys

UNITS = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--per", type=float, default=1.0)
    ap.add_argument("--per-launch-of", default=None)
    ap.add_argument("--width", type=int, default=70, help="kernel names are cut to this many characters")
    args = ap.parse_args()
    lines = open(args.csv, errors="replace").read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        sys.exit(f"ncu_kernel_table: no ncu CSV header in {args.csv}")
    rows = list(csv.reader(lines[start:]))
    head = rows[0]
    name_col, time_col = head.index("Kernel Name"), head.index("gpu__time_duration.sum")
    scale, data = 1.0, rows[1:]
    if data and data[0][time_col].strip() in UNITS:  # the units row ("ns" in ncu 2025)
        scale, data = UNITS[data[0][time_col].strip()], data[1:]
    elif data and data[0][time_col].strip() and not data[0][time_col].strip()[0].isdigit():
        sys.exit(f"ncu_kernel_table: unknown time unit '{data[0][time_col]}' in {args.csv}")
    per = {}
    for r in data:
        if len(r) <= max(name_col, time_col):
            continue
        try:
            t = float(r[time_col].replace(",", "")) * scale
        except ValueError:
            continue
        n, s = per.get(r[name_col], (0, 0.0))
        per[r[name_col]] = (n + 1, s + t)
    if args.per_launch_of:
        hits = [n for name, (n, _) in per.items() if args.per_launch_of in name]
        if not hits:
            sys.exit(f"ncu_kernel_table: no kernel named like '{args.per_launch_of}'")
        args.per = float(hits[0])
    total = sum(s for _, s in per.values())
    if not total:
        sys.exit("ncu_kernel_table: no kernel times in the CSV")
    print(f"{len(per)} kernels, {sum(n for n, _ in per.values())} launches, {total / args.per:.1f} us of kernel time"
          f"{f' per {args.per:g}' if args.per != 1 else ''}")
    print(f"{'share':>6} {'us':>9} {'launches':>8} {'mean us':>8}  kernel")
    for name, (n, s) in sorted(per.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f"{100 * s / total:5.1f}% {s / args.per:9.1f} {n / args.per:8.1f} {s / n:8.1f}  {name[:args.width]}")


if __name__ == "__main__":
    main()
