#!/usr/bin/python3
"""The recommendation scoring kernel (GEMM + exact top-K) against its peers,
in the same run, on the same matrices: sluice's scorer (build/.../bench/
scorer_bench, CPU: oneDNN GEMM + SIMD top-K), FAISS IndexFlatIP (Debian's
python3-faiss, CPU) and torch.topk(q @ I.T) (Debian's python3-torch). Every
configuration first checks that the three return the same top-K ids, then
times each for --min-time seconds, --repeats times in turn (sluice, FAISS,
torch, sluice, ...), and prints the median queries/s of each and the ratios
of the medians; then one summary row per catalogue and dim (the lowest ratio
to FAISS over the batches).

    /usr/bin/python3 bench/recommend/scorer_run.py --bench build/release/bench/scorer_bench
                      d 64 and 128, catalogues 10k / 100k / 1M, batch 1, 16, 64, 256
    ... --quick       catalogues 10k / 100k, batch 1, 16, 256, one repeat
    ... --threads 2   every side on 2 threads (default 1: a shared machine is noisy)
    ... --device cuda sluice's CUDA scorer (cuBLAS GEMM + CUDA top-K) against
                      torch.topk(q @ I.T) on the same GPU (fp32) and FAISS on the
                      CPU (tools/gpu_check.sh runs it; FAISS is left out where the
                      GPU machine's python lacks it)

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
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--memory-budget", type=int, default=0, help="sluice's score buffer bytes (0: its default)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="sluice's scorer and the torch peer on this device (FAISS stays on the CPU)")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    try:
        import faiss
        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        if args.device == "cpu":
            raise
        faiss = None  # a GPU machine's python may lack it: compare with torch on the GPU only
    torch.set_num_threads(args.threads)
    tdev = torch.device(args.device)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device")
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    dims = [64, 128]
    catalogues = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    batches = [1, 16, 256] if args.quick else [1, 16, 64, 256]
    repeats = 1 if args.quick else max(1, args.repeats)
    rng = np.random.default_rng(7)
    rows = []
    print(f"device {args.device}, threads {args.threads}, k {args.k}; median queries/s of {repeats} "
          f"(higher is better){'; FAISS not installed' if faiss is None else ''}")
    print(f"{'d':>4} {'items':>9} {'batch':>5} | {'sluice':>10} {'masked':>10} | {'faiss':>10} "
          f"{'torch':>10} | {'vs faiss':>8} {'vs torch':>8} | same ids")
    with tempfile.TemporaryDirectory() as tmp:
        for d in dims:
            for n in catalogues:
                items = rng.standard_normal((n, d), dtype=np.float32)
                ipath = os.path.join(tmp, "items.f32")
                items.tofile(ipath)
                index = None
                if faiss is not None:
                    index = faiss.IndexFlatIP(d)
                    index.add(items)
                titems = torch.from_numpy(items).to(tdev)
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
                               "--min-time", str(args.min_time), "--seen", str(seen),
                               "--device", args.device]
                        if out:
                            cmd += ["--out", out]
                        if args.memory_budget:
                            cmd += ["--memory-budget", str(args.memory_budget)]
                        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
                        return json.loads(p.stdout.strip().splitlines()[-1])

                    s = sluice(0, opath)
                    ids = np.fromfile(opath, dtype=np.int32).reshape(nb * b, args.k)
                    tq = torch.from_numpy(queries).to(tdev)
                    tids = torch.topk(tq[: nb * b] @ titems.T, args.k, dim=1).indices.cpu().numpy()
                    agree = np.all(np.sort(ids, 1) == np.sort(tids, 1), axis=1)
                    if index is not None:
                        _, fids = index.search(queries[: nb * b], args.k)
                        agree &= np.all(np.sort(ids, 1) == np.sort(fids, 1), axis=1)
                    same = float(np.mean(agree))

                    def torch_batch(i):
                        torch.topk(tq[i * b:(i + 1) * b] @ titems.T, args.k, dim=1)
                        sync()
                    sq, mq, fq, tqps = [], [], [], []
                    for rep in range(repeats):
                        sq.append(s["queries_per_s"] if rep == 0 else sluice(0)["queries_per_s"])
                        mq.append(sluice(200)["queries_per_s"])
                        if index is not None:
                            fd, fs = timed(lambda i: index.search(queries[i * b:(i + 1) * b], args.k),
                                           nb, args.min_time)
                            fq.append(fd * b / fs)
                        td, ts = timed(torch_batch, nb, args.min_time)
                        tqps.append(td * b / ts)
                    row = {"dim": d, "items": n, "batch": b, "sluice_qps": float(np.median(sq)),
                           "sluice_masked_qps": float(np.median(mq)),
                           "faiss_qps": float(np.median(fq)) if fq else float("nan"),
                           "torch_qps": float(np.median(tqps)), "same_ids": same, "device": s["device"],
                           "repeats": {"sluice": sq, "faiss": fq, "torch": tqps}}
                    rows.append(row)
                    print(f"{d:>4} {n:>9} {b:>5} | {row['sluice_qps']:>10.0f} "
                          f"{row['sluice_masked_qps']:>10.0f} | {row['faiss_qps']:>10.0f} "
                          f"{row['torch_qps']:>10.0f} | {row['sluice_qps'] / row['faiss_qps']:>7.2f}x "
                          f"{row['sluice_qps'] / row['torch_qps']:>7.2f}x | {same:.3f}", flush=True)
    peer = "faiss_qps" if faiss is not None else "torch_qps"
    peer_name = "FAISS IndexFlatIP" if faiss is not None else f"torch.topk(q @ I.T) on {args.device}"
    print(f"\nratio rows (medians): sluice / {peer_name}, lowest and highest over the batches")
    for d in dims:
        for n in catalogues:
            rs = [r["sluice_qps"] / r[peer] for r in rows if r["dim"] == d and r["items"] == n]
            print(f"  d {d:>3} items {n:>9}: {min(rs):.2f}x .. {max(rs):.2f}x  "
                  f"({' '.join(f'{x:.2f}' for x in rs)} at batch {', '.join(map(str, batches))})")
    worst = min(rows, key=lambda r: r["sluice_qps"] / r[peer])
    print(f"  lowest: {worst['sluice_qps'] / worst[peer]:.2f}x at d {worst['dim']}, "
          f"{worst['items']} items, batch {worst['batch']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "threads": args.threads, "k": args.k, "rows": rows}, f,
                      indent=1)
    if any(r["same_ids"] < 0.99 for r in rows):
        sys.exit("top-K ids differ from the peers' on more than 1 % of the queries")


if __name__ == "__main__":
    main()
