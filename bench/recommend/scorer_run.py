#!/usr/bin/python3
"""The recommendation scoring kernel (GEMM + exact top-K) against its peers,
in the same run, on the same matrices: sluice's scorer (build/.../bench/
scorer_bench, CPU: oneDNN GEMM + SIMD top-K), FAISS IndexFlatIP (Debian's
python3-faiss, CPU) and torch.topk(q @ I.T) (Debian's python3-torch). Every
configuration first checks that the three return the same top-K ids, then
times each for --min-time seconds and prints queries/s and the ratios.

    /usr/bin/python3 bench/recommend/scorer_run.py --bench build/release/bench/scorer_bench
    ... --full        d 64 and 128, catalogues 10k / 100k / 1M, batch 1..256
    ... --threads 2   every side on 2 threads (default 1: a shared machine is noisy)

Masking: FAISS and torch.topk have no per-query exclusion, so the ratios are
on unmasked search; sluice's cost with 200 seen items masked per query is
printed beside them (column `sluice masked`).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def timed(fn, nbatches, min_time):
    for b in range(nbatches):  # warm-up pass
        fn(b)
    done, t0 = 0, time.perf_counter()
    while True:
        fn(done % nbatches)
        done += 1
        el = time.perf_counter() - t0
        if el >= min_time:
            return done, el


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True, help="path of scorer_bench")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import faiss
    import torch
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)

    dims = [64, 128]
    catalogues = [10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000]
    batches = [1, 16, 64, 256] if args.full else [1, 16, 256]
    rng = np.random.default_rng(7)
    rows = []
    print(f"threads {args.threads}, k {args.k}; queries/s (higher is better)")
    print(f"{'d':>4} {'items':>9} {'batch':>5} | {'sluice':>10} {'masked':>10} | {'faiss':>10} "
          f"{'torch':>10} | {'vs faiss':>8} {'vs torch':>8} | same ids")
    with tempfile.TemporaryDirectory() as tmp:
        for d in dims:
            for n in catalogues:
                items = rng.standard_normal((n, d), dtype=np.float32)
                ipath = os.path.join(tmp, "items.f32")
                items.tofile(ipath)
                index = faiss.IndexFlatIP(d)
                index.add(items)
                titems = torch.from_numpy(items)
                for b in batches:
                    nq = max(256, b * 2)
                    queries = rng.standard_normal((nq, d), dtype=np.float32)
                    qpath = os.path.join(tmp, "queries.f32")
                    queries.tofile(qpath)
                    opath = os.path.join(tmp, "ids.i32")
                    nb = nq // b

                    def sluice(seen, out=None):
                        cmd = [args.bench, "--items", ipath, "--queries", qpath, "--dim", str(d),
                               "--k", str(args.k), "--batch", str(b), "--threads", str(args.threads),
                               "--min-time", str(args.min_time), "--seen", str(seen)]
                        if out:
                            cmd += ["--out", out]
                        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
                        return json.loads(p.stdout.strip().splitlines()[-1])

                    s = sluice(0, opath)
                    sm = sluice(200)
                    ids = np.fromfile(opath, dtype=np.int32).reshape(nb * b, args.k)
                    _, fids = index.search(queries[: nb * b], args.k)
                    tq = torch.from_numpy(queries)
                    tids = torch.topk(tq[: nb * b] @ titems.T, args.k, dim=1).indices.numpy()
                    same = float(np.mean(np.all(np.sort(ids, 1) == np.sort(fids, 1), axis=1) &
                                         np.all(np.sort(ids, 1) == np.sort(tids, 1), axis=1)))
                    fd, fs = timed(lambda i: index.search(queries[i * b:(i + 1) * b], args.k), nb,
                                   args.min_time)
                    td, ts = timed(lambda i: torch.topk(tq[i * b:(i + 1) * b] @ titems.T, args.k,
                                                        dim=1), nb, args.min_time)
                    row = {"dim": d, "items": n, "batch": b, "sluice_qps": s["queries_per_s"],
                           "sluice_masked_qps": sm["queries_per_s"], "faiss_qps": fd * b / fs,
                           "torch_qps": td * b / ts, "same_ids": same, "device": s["device"]}
                    rows.append(row)
                    print(f"{d:>4} {n:>9} {b:>5} | {row['sluice_qps']:>10.0f} "
                          f"{row['sluice_masked_qps']:>10.0f} | {row['faiss_qps']:>10.0f} "
                          f"{row['torch_qps']:>10.0f} | {row['sluice_qps'] / row['faiss_qps']:>7.2f}x "
                          f"{row['sluice_qps'] / row['torch_qps']:>7.2f}x | {same:.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "k": args.k, "rows": rows}, f, indent=1)
    if any(r["same_ids"] < 0.99 for r in rows):
        sys.exit("top-K ids differ from the peers' on more than 1 % of the queries")


if __name__ == "__main__":
    main()
