#!/usr/bin/env python3
"""Encoder throughput on a GPU: sluice's CUDA backend against PyTorch (fp16,
eager and torch.compile) on the same random weights and the same batches, and
against the device's dense bf16 matrix-product peak, all in one run.

  python3 bench/encoder/gpu_bench.py --bench-bin build-gpu/bench/encoder_bench [--quick] [--out DIR]

Models (random, Hugging Face BertForSequenceClassification layout, 3 labels):
  bert-base  12 layers, hidden 768, 12 heads, FFN 3072
  minilm-l6   6 layers, hidden 384, 12 heads, FFN 1536 (all-MiniLM-L6-v2's shape)
Batches (sequence lengths; sluice packs them, PyTorch pads each batch to its
longest, as a user would), each filled up to a token budget:
  len{16,32,64,128}/{2k,8k}  fixed lengths
  tweets/{256,1k,2k,8k}      TweetEval tweet lengths (bert-base-uncased tokens,
                             tweet_length_histogram.json: mean 25, max 75)
  mixed/8k                   lengths uniform in 8..128
Reported: tokens/s (real tokens) for sluice (eager launches and CUDA graphs),
PyTorch eager and torch.compile, the ratios, and sluice's TFLOP/s as a
fraction of the measured peak (an 8192³ cuBLAS bf16 GEMM on random data).
Goals (issue 6): >= 2x PyTorch eager and >= 1x torch.compile on short mixed
batches (tweets/*), >= 50% of peak for bert-base at 8k-token batches.

Needs: python3 with torch (and transformers; else tools/reference_forward.py
is the peer) and numpy (for tools/make_random_model.py); an encoder_bench
built with CUDA.
"""
import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = {
    "bert-base": "--layers 12 --hidden 768 --heads 12 --intermediate 3072",
    "minilm-l6": "--layers 6 --hidden 384 --heads 12 --intermediate 1536",
}
COMMON = "--arch bert --vocab 30522 --max-positions 512 --labels 3 --seed 1"


def log(msg):
    print(f"[gpu-bench] {msg}", file=sys.stderr, flush=True)


def ensure_model(models_dir, name):
    d = os.path.join(models_dir, name)
    args = f"{COMMON} {MODELS[name]}"
    stamp = os.path.join(d, ".args")
    if not (os.path.exists(stamp) and open(stamp).read() == args):
        log(f"making random model {name}")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_random_model.py"), *args.split(),
                        "--out", d], check=True)
        open(stamp, "w").write(args)
    return d


def tweet_lengths():
    h = json.load(open(os.path.join(ROOT, "bench", "encoder", "tweet_length_histogram.json")))["counts"]
    return [int(k) for k, n in h.items() for _ in range(n)]


def fill(rng, draw, budget, batches):
    """`batches` batches, each of sequences drawn until the next would pass `budget` tokens."""
    out = []
    for _ in range(batches):
        b, used = [], 0
        while True:
            n = draw(rng)
            if used + n > budget and b:
                break
            b.append(n)
            used += n
        out.append(b)
    return out


def make_plan(quick):
    rng = random.Random(20240601)
    tweets = tweet_lengths()
    configs = []
    for L in (16, 32, 64, 128):
        for budget in ((8192,) if quick else (2048, 8192)):
            configs.append({"name": f"len{L}/{budget // 1024}k", "batches": [[L] * (budget // L)]})
    for budget in ((256, 2048, 8192) if quick else (256, 1024, 2048, 8192)):
        n = max(4, min(32, 32768 // budget))
        configs.append({"name": f"tweets/{budget if budget < 1024 else str(budget // 1024) + 'k'}",
                        "batches": fill(rng, lambda r: r.choice(tweets), budget, n)})
    configs.append({"name": "mixed/8k", "batches": fill(rng, lambda r: r.randint(8, 128), 8192, 6)})
    return {"configs": configs}


def run_json(cmd, tag, timeout=None):
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{tag} timed out after {timeout:.0f} s: {' '.join(cmd)}")
    for line in res.stderr.splitlines():
        log(f"{tag}: {line}")
    if res.returncode != 0:
        raise RuntimeError(f"{tag} failed ({res.returncode}): {' '.join(cmd)}")
    return [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "build-gpu", "bench", "encoder_bench"))
    ap.add_argument("--work-dir", default=None, help="models and plans (default: next to --bench-bin)")
    ap.add_argument("--out", default=os.environ.get("OUT"), help="write gpu_bench.json here")
    ap.add_argument("--models", default="bert-base,minilm-l6")
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of sluice per config; the median counts")
    ap.add_argument("--quick", action="store_true", help="fewer configs, one repeat, 1 s each")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-modes", default="eager,compile")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--peer-timeout", type=float, default=None,
                    help="seconds each PyTorch mode may take per model, compiling included (default: no limit); "
                         "a mode that runs over is left out of the table")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.min_time = 1, 1.0
    work = args.work_dir or os.path.join(os.path.dirname(os.path.abspath(args.bench_bin)), "gpu-bench-work")
    os.makedirs(work, exist_ok=True)
    started = time.time()

    try:
        peak = run_json([args.bench_bin, "--device", args.device, "--peak", "--dtype", "bf16"], "peak")[0]
        log(f"dense bf16 peak: {peak['peak_tflops']:.0f} TFLOP/s ({peak['device']}, {peak['gemm_n']}^3 GEMM)")
    except RuntimeError as e:
        log(f"WARNING: no peak measurement ({e}); the %peak column stays empty")
        peak = {"peak_tflops": None, "device": args.device, "gemm_n": None}
    plan = make_plan(args.quick)
    results = []

    def ratio(a, b):
        return f"{a / b:6.2f}x" if a and b else "    n/a"

    def num(x):
        return f"{x / 1e3:9.0f}k" if x else "       n/a"

    # The table is printed model by model as each finishes (and the json rewritten), so a run
    # stopped by a time limit still leaves the rows it measured.
    peak_text = f"{peak['peak_tflops']:.0f} TFLOP/s" if peak["peak_tflops"] else "not measured"
    print(f"\nencoder throughput on {peak['device']}, fp16, tokens/s (sluice: median of {args.repeat}); "
          f"dense bf16 peak {peak_text}")
    print(f"{'model':<10} {'config':<11} {'sluice':>10} {'+graphs':>10} {'torch':>10} {'compile':>10} "
          f"{'vs eager':>8} {'vs comp.':>8} {'%peak':>6} {'batch ms':>8}", flush=True)

    def print_rows(rows):
        for r in rows:
            best = max(r["ours"], r["ours_graphs"])
            frac = f"{100 * max(r['tflops'], r['tflops_graphs']) / peak['peak_tflops']:5.1f}%" if peak["peak_tflops"] else "   n/a"
            print(f"{r['model']:<10} {r['config']:<11} {num(r['ours'])} {num(r['ours_graphs'])} {num(r['eager'])} "
                  f"{num(r['compile'])} {ratio(best, r['eager']):>8} {ratio(best, r['compile']):>8} "
                  f"{frac} {r['batch_ms']:8.2f}", flush=True)

    def save():
        if args.out:
            out = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "peak": peak, "repeat": args.repeat,
                   "min_time_s": args.min_time, "results": results, "plan": plan}
            os.makedirs(args.out, exist_ok=True)
            json.dump(out, open(os.path.join(args.out, "gpu_bench.json"), "w"), indent=1)

    for name in args.models.split(","):
        d = ensure_model(work, name)
        plan_path = os.path.join(work, f"plan{'-quick' if args.quick else ''}.json")
        json.dump(plan, open(plan_path, "w"))
        common = ["--model", d, "--plan", plan_path, "--device", args.device, "--dtype", "fp16",
                  "--min-time", str(args.min_time)]
        ours = {"eager": [], "graphs": []}
        for r in range(args.repeat):
            log(f"{name}: sluice run {r + 1}/{args.repeat}")
            ours["eager"].append({x["name"]: x for x in run_json([args.bench_bin, *common], "sluice")})
            ours["graphs"].append({x["name"]: x for x in run_json([args.bench_bin, *common, "--graphs"], "sluice+graphs")})
        peer = {}
        if not args.no_torch:
            log(f"{name}: PyTorch ({args.torch_modes})")
            for mode in args.torch_modes.split(","):
                try:
                    for x in run_json([sys.executable, os.path.join(ROOT, "bench", "encoder", "torch_gpu_bench.py"),
                                       "--model", d, "--plan", plan_path, "--modes", mode,
                                       "--min-time", str(args.min_time)], f"torch {mode}", args.peer_timeout):
                        peer[(x["name"], x["mode"])] = x
                except RuntimeError as e:
                    log(f"PyTorch peer ({mode}) failed: {e}")
        for c in plan["configs"]:
            def med(runs, key):
                return statistics.median(run[c["name"]][key] for run in runs)
            row = {"model": name, "config": c["name"],
                   "ours": med(ours["eager"], "tokens_per_s"), "ours_graphs": med(ours["graphs"], "tokens_per_s"),
                   "tflops": med(ours["eager"], "tflops"), "tflops_graphs": med(ours["graphs"], "tflops"),
                   "batch_ms": med(ours["eager"], "batch_ms_median"),
                   "eager": peer.get((c["name"], "eager"), {}).get("tokens_per_s"),
                   "compile": peer.get((c["name"], "compile"), {}).get("tokens_per_s")}
            results.append(row)
        print_rows(results[-len(plan["configs"]):])
        save()

    print("\ngoals:")
    short = [r for r in results if r["config"].startswith("tweets/")]
    vs_eager = [max(r["ours"], r["ours_graphs"]) / r["eager"] for r in short if r["eager"]]
    vs_comp = [max(r["ours"], r["ours_graphs"]) / r["compile"] for r in short if r["compile"]]
    if vs_eager:
        print(f"  short mixed batches vs PyTorch eager   >= 2x : min {min(vs_eager):.2f}x  "
              f"{'met' if min(vs_eager) >= 2 else 'NOT met'}")
    if vs_comp:
        print(f"  short mixed batches vs torch.compile   >= 1x : min {min(vs_comp):.2f}x  "
              f"{'met' if min(vs_comp) >= 1 else 'NOT met'}")
    big = [max(r["tflops"], r["tflops_graphs"]) / peak["peak_tflops"] for r in results
           if peak["peak_tflops"] and r["model"] == "bert-base" and r["config"].endswith("/8k")]
    if big:
        print(f"  bert-base, 8k-token batches, of peak  >= 50% : max {100 * max(big):.0f}%, min {100 * min(big):.0f}%  "
              f"{'met' if max(big) >= 0.5 else 'NOT met'}")
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
