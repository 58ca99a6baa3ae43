#!/usr/bin/python3
"""Encoder throughput: sluice's CPU backend against ONNX Runtime and PyTorch,
same random weights, same batch plan, same thread count, in one run.

  /usr/bin/python3 bench/encoder/run.py            # quick (~2 min on 2 cores)
  /usr/bin/python3 bench/encoder/run.py --full     # every size, length and batch (~10 min)

Models (random, Hugging Face BertForSequenceClassification layout, 3 labels):
  small     4 layers, hidden 256, 4 heads, FFN 1024 (the issue's reference shape)
  minilm   12 layers, hidden 384, 12 heads, FFN 1536 (MiniLM-L12-H384)
  bert-base 12 layers, hidden 768, 12 heads, FFN 3072 (--full only)
Configs: fixed lengths 16/32/64/128 and the TweetEval tweet-length mix
(bert-base-uncased tokenizer), batches of 1/8/32. sluice runs packed batches
(no padding); the peers pad each batch to its longest sequence, as users do.
Peers: onnxruntime-node (ONNX export by torch.onnx.export, default graph
optimisations, intraOpNumThreads = threads) and PyTorch (Debian python3-torch
over OpenBLAS, torch.inference_mode, torch.set_num_threads(threads)).

Needs: a build with encoder_bench (cmake --build build --target encoder_bench),
(cd tools && npm ci --ignore-scripts), python3-torch, libopenblas0-pthread.
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
PY = "/usr/bin/python3"
SHARED = os.environ.get("SLUICE_SHARED", os.path.join(ROOT, "..", "shared"))

MODELS = {
    "small": "--layers 4 --hidden 256 --heads 4 --intermediate 1024",
    "minilm": "--layers 12 --hidden 384 --heads 12 --intermediate 1536",
    "bert-base": "--layers 12 --hidden 768 --heads 12 --intermediate 3072",
}
COMMON = "--arch bert --vocab 30522 --max-positions 512 --labels 3 --seed 1"
# Batches per cycle of the tweet mix: every runner processes whole cycles of
# the same batches, so all see the same length distribution.
TWEET_BATCHES = {1: 64, 8: 16, 32: 8}


def log(msg):
    print(f"[encoder-bench] {msg}", file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_model(models_dir, name):
    d = os.path.join(models_dir, name)
    args = f"{COMMON} {MODELS[name]}"
    stamp = os.path.join(d, ".args")
    if not (os.path.exists(stamp) and open(stamp).read() == args):
        log(f"making random model {name}")
        sh([PY, os.path.join(ROOT, "tools", "make_random_model.py"), *args.split(), "--out", d])
        if os.path.exists(os.path.join(d, "model.onnx")):
            os.remove(os.path.join(d, "model.onnx"))
        open(stamp, "w").write(args)
    onnx = os.path.join(d, "model.onnx")
    if not os.path.exists(onnx):
        log(f"exporting {name} to ONNX")
        sh([PY, os.path.join(ROOT, "tools", "export_onnx.py"), "--model", d, "--out", onnx],
           stderr=subprocess.DEVNULL)
    return d


def tweet_lengths(models_dir):
    out = os.path.join(models_dir, "tweet_lengths.json")
    if not os.path.exists(out):
        sh(["node", os.path.join(ROOT, "bench", "encoder", "tweet_lengths.mjs"),
            os.path.join(SHARED, "data", "tweeteval-sentiment", "test_text.txt"),
            os.path.join(SHARED, "data", "bert-base-uncased", "tokenizer.json"), out])
    return json.load(open(out))["lengths"]


def make_plan(full, model, lengths):
    rng = random.Random(20240601)
    configs = []

    def fixed(L, b):
        configs.append({"name": f"len{L}/b{b}", "batches": [[L] * b]})

    def tweets(b):
        configs.append({"name": f"tweets/b{b}",
                        "batches": [rng.sample(lengths, b) for _ in range(TWEET_BATCHES[b])]})

    if full:
        for b in (1, 8, 32):
            for L in (16, 32, 64, 128):
                fixed(L, b)
            tweets(b)
    elif model == "small":
        fixed(32, 32)
        tweets(32)
        tweets(1)
    else:
        fixed(32, 32)
        tweets(32)
        tweets(8)
    return {"configs": configs}


def run_runner(kind, cmd, env=None):
    res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in res.stderr.splitlines():
        if line.startswith(("encoder_bench:", "ort_bench:", "torch_bench:")):
            log(f"{kind}: {line}")
    return {r["name"]: r for r in (json.loads(l) for l in res.stdout.splitlines() if l.startswith("{"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="every model size, length and batch size")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-time", type=float, default=None, help="seconds per config and runner")
    ap.add_argument("--repeat", type=int, default=None, help="runs per cell; the median is reported")
    ap.add_argument("--models", default=None, help="comma list of " + ",".join(MODELS))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--metric", choices=["wall", "cpu"], default="wall",
                    help="wall: sequences per wall-clock second (the headline); cpu: sequences per "
                         "CPU-second of the whole process, robust on a busy shared machine but fair "
                         "only with --threads 1 (idle spinning threads count as CPU time)")
    ap.add_argument("--bf16", action="store_true",
                    help="also run sluice's opt-in bf16 mode (AMX); shown in its own column, not like-for-like")
    ap.add_argument("--save", default=None, help="also write the results JSON here")
    args = ap.parse_args()
    min_time = args.min_time or (1.0 if args.full else 1.5)
    repeat = args.repeat or (1 if args.full else 3)
    models = (args.models or ("small,minilm,bert-base" if args.full else "small,minilm")).split(",")

    bench_bin = os.path.join(args.build_dir, "bench", "encoder_bench")
    sh(["cmake", "--build", args.build_dir, "--target", "encoder_bench"], stdout=subprocess.DEVNULL)
    if not os.path.exists(os.path.join(ROOT, "tools", "node_modules", "onnxruntime-node")):
        sys.exit("encoder-bench: run (cd tools && npm ci --ignore-scripts) first")
    try:
        blas = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                              capture_output=True, text=True).stdout
        value = next((l.split(": ", 1)[1] for l in blas.splitlines() if l.startswith("Value:")), "?")
        log(f"PyTorch BLAS (libblas.so.3 alternative): {value}")
        if "openblas" not in value:
            log("WARNING: PyTorch is not on OpenBLAS; install libopenblas0-pthread for a fair peer")
    except FileNotFoundError:
        pass

    models_dir = os.path.join(args.build_dir, "bench-models")
    os.makedirs(models_dir, exist_ok=True)
    lengths = tweet_lengths(models_dir)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    started = time.time()
    results = []
    for name in models:
        d = ensure_model(models_dir, name)
        plan = make_plan(args.full, name, lengths)
        plan_path = os.path.join(models_dir, f"plan-{name}{'-full' if args.full else ''}.json")
        json.dump(plan, open(plan_path, "w"))
        common = ["--plan", plan_path, "--threads", str(args.threads), "--min-time", str(min_time)]
        runs = {"ours": [], "ort": [], "torch": []}
        if args.bf16:
            runs["ours_bf16"] = []
        for r in range(repeat):
            log(f"{name}: run {r + 1}/{repeat}")
            runs["ours"].append(run_runner("ours", [bench_bin, "--model", d, *common], env))
            if args.bf16:
                runs["ours_bf16"].append(run_runner("ours", [bench_bin, "--model", d, "--bf16", *common], env))
            runs["ort"].append(run_runner("ort", ["node", os.path.join(ROOT, "bench", "encoder", "ort_bench.mjs"),
                                                  "--model", os.path.join(d, "model.onnx"), "--pad-id", "0",
                                                  *common], env))
            runs["torch"].append(run_runner("torch", [PY, os.path.join(ROOT, "bench", "encoder", "torch_bench.py"),
                                                      "--model", d, *common], env))
        for cfg in plan["configs"]:
            row = {"model": name, "config": cfg["name"]}
            for k, rs in runs.items():
                def rate(x):
                    c = x[cfg["name"]]
                    if args.metric == "wall":
                        return c["seq_per_s"]
                    return c["seq_per_s"] * c["seconds"] / c["cpu_seconds"]
                row[k] = statistics.median(rate(x) for x in rs)
            results.append(row)

    unit = "sequences/s" if args.metric == "wall" else "sequences per CPU-second"
    print(f"\nencoder throughput, {unit} (median of {repeat}), {args.threads} threads, fp32")
    bf16_head = f" {'sluice bf16':>12} {'bf16/ORT':>9}" if args.bf16 else ""
    print(f"{'model':<10} {'config':<13} {'sluice':>10} {'ORT':>10} {'PyTorch':>10} {'vs ORT':>8} {'vs PyTorch':>11}"
          + bf16_head)
    for r in results:
        bf16_cols = f" {r['ours_bf16']:>12.1f} {r['ours_bf16'] / r['ort']:>8.2f}x" if args.bf16 else ""
        print(f"{r['model']:<10} {r['config']:<13} {r['ours']:>10.1f} {r['ort']:>10.1f} {r['torch']:>10.1f} "
              f"{r['ours'] / r['ort']:>7.2f}x {r['ours'] / r['torch']:>10.2f}x" + bf16_cols)
    if args.bf16:
        print("(sluice bf16: the opt-in bfloat16 GEMM mode on AMX, logits within 5e-2 of fp32; the peers run fp32)")

    def ratios(pred):
        return [r["ours"] / r["ort"] for r in results if pred(r)]

    tweets32 = ratios(lambda r: r["config"] == "tweets/b32")
    fixed = ratios(lambda r: r["config"].startswith("len"))
    never = min(r["ours"] / r["torch"] for r in results)
    print("\ngoals:")
    if tweets32:
        print(f"  tweet mix, batch 32 vs ORT >= 1.3x : min {min(tweets32):.2f}x  {'met' if min(tweets32) >= 1.3 else 'NOT met'}")
    if fixed:
        print(f"  fixed lengths vs ORT >= 0.9x       : min {min(fixed):.2f}x  {'met' if min(fixed) >= 0.9 else 'NOT met'}")
    print(f"  never slower than PyTorch          : min {never:.2f}x  {'met' if never >= 1.0 else 'NOT met'}")
    print(f"\n({time.time() - started:.0f} s; the machine is shared, so numbers move run to run)")

    out = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "threads": args.threads,
           "repeat": repeat, "metric": args.metric, "min_time_s": min_time, "full": args.full, "results": results}
    os.makedirs(os.path.join(args.build_dir, "bench-results"), exist_ok=True)
    json.dump(out, open(os.path.join(args.build_dir, "bench-results", "encoder.json"), "w"), indent=1)
    if args.save:
        json.dump(out, open(args.save, "w"), indent=1)


if __name__ == "__main__":
    main()
