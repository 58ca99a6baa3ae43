#!/usr/bin/python3
"""Picks the sentiment pipeline's alert threshold from data: replays a tweet
stream the way the demo does (tools/replay_tweets.py: same synthetic brands,
--rate records/s into --window-seconds tumbling windows), labels it with
`sluice classify`, and measures each brand's per-window negative ratio, over
all records and over the opinionated ones (negative or positive).

    /usr/bin/python3 tools/alert_thresholds.py --sluice build/release/sluice \\
        [--model models/sentiment-tweet-small] [--file TWEETS ...] [--min-count 20]

A stream of ordinary tweets is, by definition, nothing to alert on, so the
threshold proposed for each ratio is the smallest multiple of 0.05 that no
brand-window with at least --min-count records (in the ratio's denominator)
exceeds, over every given stream. How much an incident must move a ratio to be
seen is then measured by replaying the same windows with a share q of each
window's records turned negative (their text replaced by tweets the model
calls negative), and counting the windows that cross the threshold.

Only the model's labels are used (no gold labels), so any tweet text serves;
the defaults are the two streams we have: the TweetEval test text, which the
demo replays, and the train text.
"""

import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay_tweets import brand_of  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "tweeteval-sentiment")


def labels_of(sluice, model, path):
    with open(path, encoding="utf-8", errors="replace") as f:
        tweets = [line.rstrip("\n") for line in f if line.strip()]  # as replay_tweets.py reads them
    out = subprocess.run([sluice, "classify", "--model", model, "--threads", "2"],
                         input="\n".join(tweets) + "\n", capture_output=True, text=True, check=True)
    return [json.loads(line)["label"] for line in out.stdout.splitlines()]


def windows(labels, per_window):
    """[(brand, [labels])] per tumbling window and brand, in stream order."""
    out = []
    for start in range(0, len(labels) - per_window + 1, per_window):  # whole windows only
        by_brand = {}
        for i in range(start, start + per_window):
            by_brand.setdefault(brand_of(i), []).append(labels[i])
        out += sorted(by_brand.items())
    return out


def ratio(ls, over):
    neg = ls.count("negative")
    den = len(ls) if over == "all" else neg + ls.count("positive")
    return den, (neg / den if den else 0.0)


def with_incident(ls, q):
    """The window with a share q of its records (the first non-negative ones) turned negative."""
    k = math.ceil(q * len(ls))
    out = list(ls)
    for i, label in enumerate(out):
        if k == 0:
            break
        if label != "negative":
            out[i] = "negative"
            k -= 1
    return out


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", default=os.path.join(REPO_ROOT, "build", "release", "sluice"))
    ap.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "sentiment-tweet-small"))
    ap.add_argument("--file", action="append", help="tweets, one per line (repeatable)")
    ap.add_argument("--rate", type=float, default=50.0, help="replay rate, records/s (the demo's)")
    ap.add_argument("--window-seconds", type=float, default=10.0, help="window size (the pipeline's)")
    ap.add_argument("--min-count", type=int, default=20, help="alert.min_count")
    args = ap.parse_args()
    files = args.file or [os.path.join(DATA, "test_text.txt"), os.path.join(DATA, "train_text.txt")]
    per_window = int(args.rate * args.window_seconds)

    streams = {os.path.basename(f): labels_of(args.sluice, args.model, f) for f in files}
    print(f"model {os.path.basename(os.path.normpath(args.model))}; windows of {per_window} records "
          f"({args.rate:g}/s x {args.window_seconds:g} s) over the replay's brands; "
          f"min_count {args.min_count}\n")
    for name, labels in streams.items():
        shares = {k: labels.count(k) / len(labels) for k in sorted(set(labels))}
        print(f"{name}: {len(labels)} tweets, labels " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()))
    print()
    for over in ("all", "opinionated"):
        normal = []
        for name, labels in streams.items():
            rs = [r for den, r in (ratio(ls, over) for _, ls in windows(labels, per_window))
                  if den >= args.min_count]
            normal += rs
            print(f"over {over:<11} {name}: {len(rs)} brand-windows, negative ratio mean "
                  f"{sum(rs) / len(rs):.3f}, p50 {quantile(rs, 0.5):.3f}, p95 {quantile(rs, 0.95):.3f}, "
                  f"max {max(rs):.3f}")
        threshold = math.floor(max(normal) / 0.05 + 1e-9) * 0.05 + 0.05
        threshold = round(min(threshold, 0.95), 2)
        line = f"over {over:<11} threshold {threshold:.2f} (no normal brand-window above it); windows alerting when a share q turns negative:"
        for q in (0.1, 0.2, 0.3, 0.5):
            hits = n = 0
            for labels in streams.values():
                for _, ls in windows(labels, per_window):
                    den, r = ratio(with_incident(ls, q), over)
                    if den >= args.min_count:
                        n += 1
                        hits += r > threshold
            line += f" q={q:.1f} {100 * hits / max(n, 1):.0f}%"
        print(line + "\n")


if __name__ == "__main__":
    main()
