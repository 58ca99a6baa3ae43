#!/usr/bin/python3
"""Checks that the benchmark's Python service does the same work as sluice:
its tokenizer gives exactly the ids of `sluice tokenize`, and its PyTorch
model the labels and scores of `sluice classify`, on the same texts. A peer
that skipped work (or did different work) would make the comparison
meaningless, so this runs as a test (ctest: SentimentPeer.*).

    /usr/bin/python3 bench/sentiment/check_peer.py --sluice build/release/sluice \\
        --model models/sentiment-sst2-small [--texts FILE] [--limit N]

Exit 0: same; 1: a difference (printed); 77: skipped (no model).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "sentiment-sst2-small"))
    ap.add_argument("--texts", default="")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--score-tolerance", type=float, default=2e-3)
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.model, "model.safetensors")):
        print(f"skipped: no model at {args.model}")
        return 77
    texts_path = args.texts
    if not texts_path:
        shared = os.path.join(ROOT, "..", "shared", "data", "tweeteval-sentiment", "test_text.txt")
        texts_path = shared if os.path.exists(shared) else os.path.join(
            ROOT, "tests", "fixtures", "sentiment", "sample_tweets.txt")
    with open(texts_path, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f if line.strip()][: args.limit]
    stdin = "".join(t + "\n" for t in texts)

    import torch
    from bert_classifier import BertClassifier
    from bert_tokenizer import BertTokenizer

    tok = BertTokenizer.from_dir(args.model)
    model = BertClassifier(args.model)
    max_length = model.max_positions
    failures = 0

    r = subprocess.run([args.sluice, "tokenize", "--tokenizer", args.model], input=stdin, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        print(f"sluice tokenize failed ({r.returncode}): {r.stderr}")
        return 1
    theirs = [json.loads(line) for line in r.stdout.splitlines()]
    if len(theirs) != len(texts):
        print(f"sluice tokenize: {len(theirs)} lines for {len(texts)} texts")
        return 1
    for t, ids in zip(texts, theirs):
        ids = ids["ids"] if isinstance(ids, dict) else ids
        mine = tok.encode(t, max_length)
        if mine != ids:
            failures += 1
            if failures <= 5:
                print(f"ids differ for {t!r}:\n  python {mine}\n  sluice {ids}")
    print(f"tokenizer: {len(texts) - failures}/{len(texts)} identical")

    r = subprocess.run([args.sluice, "classify", "--model", args.model, "--precision", "fp32"], input=stdin, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        print(f"sluice classify failed ({r.returncode}): {r.stderr}")
        return 1
    results = [json.loads(line) for line in r.stdout.splitlines()]
    if len(results) != len(texts):
        print(f"sluice classify: {len(results)} lines for {len(texts)} texts")
        return 1
    torch.set_num_threads(1)
    bad, worst = 0, 0.0
    with torch.inference_mode():
        for t, res in zip(texts, results):
            ids = tok.encode(t, max_length)
            probs = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
            score, label = probs.max(dim=-1)
            label = model.labels[int(label)]
            diff = abs(float(score) - res["score"])
            worst = max(worst, diff)
            # A near-tie may flip between implementations; only a confident disagreement counts.
            if diff > args.score_tolerance or (label != res["label"] and float(score) > 0.5 + args.score_tolerance):
                bad += 1
                if bad <= 5:
                    print(f"result differs for {t!r}: python {label} {float(score):.5f}, sluice {res}")
    print(f"classifier: {len(texts) - bad}/{len(texts)} agree; largest score difference {worst:.2e}")
    failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
