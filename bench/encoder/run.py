#!/usr/bin/python3
"""Encoder throughput: sluice's CPU backend against ONNX Runtime and PyTorch,
same random weights, same batch plan, same thread count, in one run.

  /usr/bin/python3 bench/encoder/run.py            # quick (~2 min on 2 cores)
  /usr/bin/python3 bench/encoder/run.py --full     # every size, length and batch (~10 min)
  /usr/bin/python3 bench/encoder/run.py --models tweet,bert-base --precisions fp32,bf16,int8 \
      --peers ort --accuracy      # sluice's CPU precisions, their TweetEval accuracy beside their speed

Models (random, Hugging Face BertForSequenceClassification layout, 3 labels):
  small     4 layers, hidden 256, 4 heads, FFN 1024 (the issue's reference shape)
  minilm   12 layers, hidden 384, 12 heads, FFN 1536 (MiniLM-L12-H384)
  bert-base 12 layers, hidden 768, 12 heads, FFN 3072 (--full only)
  tweet     the shipped models/sentiment-tweet-small (real weights: 2 layers, hidden 128,
            2 heads, FFN 512; --models only)
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

# The shipped tweet model (real weights, not made here).
REAL_MODELS = {"tweet": os.path.join(ROOT, "models", "sentiment-tweet-small")}
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
    if name in REAL_MODELS:
        d = os.path.join(models_dir, name)
        os.makedirs(d, exist_ok=True)
        onnx = os.path.join(d, "model.onnx")
        src = os.path.join(REAL_MODELS[name], "model.safetensors")
        if not os.path.exists(onnx) or os.path.getmtime(onnx) < os.path.getmtime(src):
            log(f"exporting {name} to ONNX")
            sh([PY, os.path.join(ROOT, "tools", "export_onnx.py"), "--model", REAL_MODELS[name], "--out", onnx],
               stderr=subprocess.DEVNULL)
        return REAL_MODELS[name], onnx
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
    return d, onnx


def model_limits(d):
    c = json.load(open(os.path.join(d, "config.json")))
    return c["vocab_size"], c["max_position_embeddings"]


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
    elif model in ("small", "tweet"):
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
    ap.add_argument("--bf16", action="store_true", help="the same as adding bf16 to --precisions")
    ap.add_argument("--precisions", default="fp32",
                    help="comma list of sluice's CPU GEMM precisions to run: fp32,bf16,int8 (fp32 always runs)")
    ap.add_argument("--peers", default="ort,torch", help="comma list of peers: ort,torch (or none)")
    ap.add_argument("--accuracy", action="store_true",
                    help="also measure each precision's TweetEval test macro recall on the tweet model "
                         "through sluice classify (tools/eval_sentiment.py's metrics)")
    ap.add_argument("--save", default=None, help="also write the results JSON here")
    args = ap.parse_args()
    min_time = args.min_time or (1.0 if args.full else 1.5)
    repeat = args.repeat or (1 if args.full else 3)
    models = (args.models or ("small,minilm,bert-base" if args.full else "small,minilm")).split(",")
    precisions = ["fp32"] + [p for p in args.precisions.split(",") if p and p != "fp32"]
    if args.bf16 and "bf16" not in precisions:
        precisions.append("bf16")
    peers = [p for p in args.peers.split(",") if p in ("ort", "torch")]

    bench_bin = os.path.join(args.build_dir, "bench", "encoder_bench")
    sh(["cmake", "--build", args.build_dir, "--target", "encoder_bench"], stdout=subprocess.DEVNULL)
    if "ort" in peers and not os.path.exists(os.path.join(ROOT, "tools", "node_modules", "onnxruntime-node")):
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
        d, onnx = ensure_model(models_dir, name)
        vocab, max_positions = model_limits(d)
        plan = make_plan(args.full, name, [min(n, max_positions) for n in lengths])
        plan_path = os.path.join(models_dir, f"plan-{name}{'-full' if args.full else ''}.json")
        json.dump(plan, open(plan_path, "w"))
        common = ["--plan", plan_path, "--threads", str(args.threads), "--min-time", str(min_time)]
        runs = {f"ours_{p}": [] for p in precisions}
        for peer in peers:
            runs[peer] = []
        for r in range(repeat):
            log(f"{name}: run {r + 1}/{repeat}")
            for p in precisions:
                runs[f"ours_{p}"].append(run_runner(f"ours {p}", [bench_bin, "--model", d, "--precision", p, *common], env))
            if "ort" in peers:
                runs["ort"].append(run_runner("ort", ["node", os.path.join(ROOT, "bench", "encoder", "ort_bench.mjs"),
                                                      "--model", onnx, "--pad-id", "0", "--vocab", str(vocab),
                                                      *common], env))
            if "torch" in peers:
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

    accuracy = {}
    if args.accuracy:
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import eval_sentiment  # noqa: E402
        import tweet_text  # noqa: E402
        data = os.path.join(SHARED, "data", "tweeteval-sentiment")
        tweet_text.read_mapping(data)
        lines, gold = eval_sentiment.read_test_lines(data)
        for p in precisions:
            probs, _ = eval_sentiment.classify(os.path.join(args.build_dir, "sluice"), REAL_MODELS["tweet"],
                                               lines, args.threads, p)
            accuracy[p] = eval_sentiment.scores(gold, probs)
            log(f"accuracy {p}: macro recall {100 * accuracy[p]['macro_recall']:.2f}")

    unit = "sequences/s" if args.metric == "wall" else "sequences per CPU-second"
    print(f"\nencoder throughput, {unit} (median of {repeat}), {args.threads} threads")
    cols = [f"sluice {p}" for p in precisions] + [{"ort": "ORT fp32", "torch": "PyTorch fp32"}[p] for p in peers]
    ratio_cols = [f"{p}/fp32" for p in precisions[1:]] + [f"{p}/ORT" for p in precisions if "ort" in peers]
    print(f"{'model':<10} {'config':<13}" + "".join(f" {c:>12}" for c in cols) + "".join(f" {c:>9}" for c in ratio_cols))
    for r in results:
        vals = [r[f"ours_{p}"] for p in precisions] + [r[p] for p in peers]
        ratios = [r[f"ours_{p}"] / r["ours_fp32"] for p in precisions[1:]]
        if "ort" in peers:
            ratios += [r[f"ours_{p}"] / r["ort"] for p in precisions]
        print(f"{r['model']:<10} {r['config']:<13}" + "".join(f" {v:>12.1f}" for v in vals)
              + "".join(f" {x:>8.2f}x" for x in ratios))
    if accuracy:
        print("\nTweetEval test (12,284 tweets) through sluice classify on the tweet model, per precision:")
        print(f"{'precision':<10} {'macro recall':>13} {'vs fp32':>8} {'neg/pos':>8} {'accuracy':>9}")
        for p in precisions:
            a = accuracy[p]
            print(f"{p:<10} {100 * a['macro_recall']:>13.2f} {100 * (a['macro_recall'] - accuracy['fp32']['macro_recall']):>+8.2f} "
                  f"{100 * a['polar_accuracy']:>8.2f} {100 * a['accuracy']:>9.2f}")

    print("\ngoals (whole model, batch 32: every b32 config):")
    b32 = [r for r in results if r["config"].endswith("/b32")]
    for p in precisions[1:]:
        vs_fp32 = min(r[f"ours_{p}"] / r["ours_fp32"] for r in b32) if b32 else 0
        print(f"  {p} vs sluice fp32 >= 1.5x : min {vs_fp32:.2f}x  {'met' if vs_fp32 >= 1.5 else 'NOT met'}")
    if "ort" in peers:
        for p in precisions:
            vs_ort = min(r[f"ours_{p}"] / r["ort"] for r in b32) if b32 else 0
            print(f"  {p} vs ORT fp32 >= 1.3x    : min {vs_ort:.2f}x  {'met' if vs_ort >= 1.3 else 'NOT met'}")
    if "torch" in peers:
        never = min(r["ours_fp32"] / r["torch"] for r in results)
        print(f"  fp32 never slower than PyTorch : min {never:.2f}x  {'met' if never >= 1.0 else 'NOT met'}")
    print(f"\n({time.time() - started:.0f} s; the machine is shared, so numbers move run to run)")

    out = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "threads": args.threads,
           "repeat": repeat, "metric": args.metric, "min_time_s": min_time, "full": args.full, "results": results,
           "precisions": precisions, "peers": peers,
           "accuracy": {p: {k: a[k] for k in ("macro_recall", "recall", "polar_accuracy", "accuracy")}
                        for p, a in accuracy.items()}}
    os.makedirs(os.path.join(args.build_dir, "bench-results"), exist_ok=True)
    json.dump(out, open(os.path.join(args.build_dir, "bench-results", "encoder.json"), "w"), indent=1)
    if args.save:
        json.dump(out, open(args.save, "w"), indent=1)


if __name__ == "__main__":
    main()
