#!/usr/bin/python3
"""PyTorch peer for bench/encoder/run.py: the tools/reference_forward.py module
(HF-equivalent BERT/DistilBERT/RoBERTa) on the same weights and batch plan as
encoder_bench, each batch padded to its longest sequence, under
torch.inference_mode with torch.set_num_threads(N).

  /usr/bin/python3 bench/encoder/torch_bench.py --model DIR --plan plan.json --threads N --min-time S
Prints one JSON line per config: {"name", "seq_per_s", "batches", "seconds", "cpu_seconds"}.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from reference_forward import Reference  # noqa: E402


def make_batch(lengths, seed, pad_id):
    B, L = len(lengths), max(lengths)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    for i, n in enumerate(lengths):
        for t in range(n):
            x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
            ids[i, t] = 1000 + (x >> 8) % 29000
        mask[i, :n] = 1
    return ids, mask


def blas_gflops():
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(10):
        torch.mm(a, b)
    return 10 * 2 * 512 ** 3 / (time.perf_counter() - t) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = Reference(args.model).eval()
    g = blas_gflops()
    print(f"torch_bench: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"512x512 sgemm {g:.0f} GFLOP/s", file=sys.stderr)
    if g < 20:
        print("torch_bench: WARNING: PyTorch BLAS is slow; is libopenblas0-pthread installed and "
              "selected (update-alternatives --display libblas.so.3-x86_64-linux-gnu)?", file=sys.stderr)
    with open(args.plan) as f:
        plan = json.load(f)
    with torch.inference_mode():
        for cfg in plan["configs"]:
            batches = [make_batch(l, i + 1, model.pad) for i, l in enumerate(cfg["batches"])]

            def cycle():
                for ids, mask in batches:
                    model(ids, mask)

            cycle()  # warm-up
            sequences = n = 0
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            while True:
                cycle()
                sequences += sum(b[0].shape[0] for b in batches)
                n += len(batches)
                elapsed = time.perf_counter() - t0
                if elapsed >= args.min_time:
                    break
            print(json.dumps({"name": cfg["name"], "seq_per_s": sequences / elapsed, "batches": n,
                              "seconds": elapsed, "cpu_seconds": time.process_time() - cpu0}), flush=True)


if __name__ == "__main__":
    main()
