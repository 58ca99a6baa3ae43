#!/usr/bin/env python3
"""PyTorch peer for bench/encoder/gpu_bench.py: the same weights (an HF model
directory) and batch plan as encoder_bench --device cuda, run the way a user
would: transformers' AutoModelForSequenceClassification in fp16 on the GPU
(default SDPA attention), each batch padded to its longest sequence with an
attention mask, under torch.inference_mode; eager and torch.compile.

  python3 bench/encoder/torch_gpu_bench.py --model DIR --plan plan.json [--modes eager,compile] [--min-time S]

Prints one JSON line per (config, mode): {"name", "mode", "seq_per_s",
"tokens_per_s", "batches", "seconds"}; tokens are the real (unpadded) ones, as
encoder_bench counts them. Each batch's ids go host -> device per call (as
encoder_bench's do); the device is synchronised once per timed run, not per
batch, which favours this peer (no per-batch result copy).
"""
import argparse
import json
import os
import sys
import time

import torch


def make_batch(lengths, seed, pad_id, vocab):
    B, L = len(lengths), max(lengths)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    lo = 1000 % vocab
    for i, n in enumerate(lengths):
        for t in range(n):
            x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
            ids[i, t] = lo + (x >> 8) % (vocab - lo)
        mask[i, :n] = 1
    return ids.pin_memory(), mask.pin_memory()


def load_model(model_dir, dtype):
    try:
        from transformers import AutoModelForSequenceClassification
        try:
            m = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype)
        except TypeError:
            m = AutoModelForSequenceClassification.from_pretrained(model_dir, torch_dtype=dtype)
        m = m.cuda().eval()
        impl = getattr(m.config, "_attn_implementation", "?")
        return (lambda ids, mask: m(input_ids=ids, attention_mask=mask).logits), m, f"transformers ({impl} attention)"
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
        from reference_forward import Reference
        m = Reference(model_dir, dtype).cuda().eval()
        return (lambda ids, mask: m(ids, mask)), m, "tools/reference_forward.py (no transformers)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"])
    args = ap.parse_args()
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    pad = cfg.get("pad_token_id", 0) or 0
    vocab = cfg["vocab_size"]
    forward, module, what = load_model(args.model, dtype)
    print(f"torch_gpu_bench: torch {torch.__version__}, {torch.cuda.get_device_name()}, {what}, {args.dtype}",
          file=sys.stderr, flush=True)
    with open(args.plan) as f:
        plan = json.load(f)
    for mode in args.modes.split(","):
        fn = forward
        if mode == "compile":
            try:
                # Mixed lengths give many padded shapes: let dynamo keep them (the
                # knob was renamed over versions).
                for knob in ("cache_size_limit", "recompile_limit"):
                    if hasattr(torch._dynamo.config, knob):
                        setattr(torch._dynamo.config, knob, max(getattr(torch._dynamo.config, knob), 64))
                compiled = torch.compile(module)
                if hasattr(module, "config"):  # transformers
                    fn = lambda ids, mask: compiled(input_ids=ids, attention_mask=mask).logits  # noqa: E731
                else:
                    fn = lambda ids, mask: compiled(ids, mask)  # noqa: E731
            except Exception as e:  # noqa: BLE001
                print(f"torch_gpu_bench: torch.compile unavailable: {e}", file=sys.stderr)
                continue
        for c in plan["configs"]:
            batches = [make_batch(l, i + 1, pad, vocab) for i, l in enumerate(c["batches"])]
            tokens = sum(sum(l) for l in c["batches"])
            seqs = sum(len(l) for l in c["batches"])

            def cycle():
                for ids, mask in batches:
                    fn(ids.cuda(non_blocking=True), mask.cuda(non_blocking=True))

            try:
                with torch.inference_mode():
                    for _ in range(2 if mode == "eager" else 3):  # compile (and recompile for new shapes) here
                        cycle()
                    torch.cuda.synchronize()
                    n = 0
                    t0 = time.perf_counter()
                    while True:
                        cycle()
                        n += 1
                        if time.perf_counter() - t0 >= args.min_time:
                            break
                    torch.cuda.synchronize()
                    elapsed = time.perf_counter() - t0
            except Exception as e:  # noqa: BLE001
                print(f"torch_gpu_bench: {mode} failed on {c['name']}: {e}", file=sys.stderr)
                continue
            print(json.dumps({"name": c["name"], "mode": mode, "seq_per_s": n * seqs / elapsed,
                              "tokens_per_s": n * tokens / elapsed, "batches": n * len(batches),
                              "seconds": elapsed}), flush=True)


if __name__ == "__main__":
    main()
