#!/usr/bin/python3
"""Measures sentiment models on the TweetEval sentiment test split through
`sluice classify` (the path the pipeline serves), beside a TF-IDF + logistic
regression baseline trained on the same train tweets the model was fitted on.

    /usr/bin/python3 tools/eval_sentiment.py --sluice build/release/sluice \\
        [--model models/sentiment-tweet-small --model models/sentiment-sst2-small] [--json OUT]

Metrics, on the 12,284 test tweets (3,972 negative, 5,937 neutral, 2,375 positive):
  macro recall   mean of the three per-class recalls (TweetEval's official metric)
  recall         per class: negative / neutral / positive
  neg/pos        on the 6,347 negative or positive tweets, the share where the gold
                 polarity gets more probability than the opposite one (neutral
                 ignored): how a binary model is judged, so comparable across both
  neg/pos 3-way  on the same tweets, the share whose top label is the gold one
Models are given the raw test lines (what a stream carries). A two-label model
(SST-2) never says neutral: its neutral recall is 0 by construction.

Baseline: word 1-2-grams (TfidfVectorizer(ngram_range=(1, 2), min_df=2,
sublinear_tf=True) in scikit-learn terms) + multinomial logistic regression,
trained on the fit part of train with the trainer's split (tools/tweet_text.py
holdout_split, same --holdout and --split-seed as tools/train_sentiment.py);
C is picked on the held-out part from {0.3, 1, 3, 10}. It is reported as is and
with class offsets picked on the held-out part, the treatment the shipped
model gets. --char-baseline adds word 1-2 + character 2-5-grams (the trainer's
teacher; C from {1, 3, 10}), the strongest TF-IDF variant tried. The test
labels choose nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfidf_lr  # noqa: E402
import tweet_text  # noqa: E402
from train_sentiment import CARD_BEGIN, CARD_END, best_offsets  # noqa: E402  (the trainer's own)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = tweet_text.LABELS


def read_test_lines(data_dir):
    """The test tweets exactly as the stream would carry them (only the newline cut)."""
    with open(os.path.join(data_dir, "test_text.txt"), encoding="utf-8", newline="\n") as f:
        lines = [line[:-1] if line.endswith("\n") else line for line in f]
    _, labels = tweet_text.read_split(data_dir, "test")
    if len(lines) != len(labels):
        raise SystemExit(f"{data_dir}: {len(lines)} test lines, {len(labels)} labels")
    return lines, labels


def classify(sluice, model, lines, threads, precision=None):
    """Probabilities [n, 3] in TweetEval's label order, via `sluice classify --probs`
    (with --precision when given). A label the model does not have gets probability 0."""
    t0 = time.time()
    extra = ["--precision", precision] if precision else []
    out = subprocess.run([sluice, "classify", "--model", model, "--probs", "--threads", str(threads), *extra],
                         input="\n".join(lines) + "\n", capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"sluice classify --model {model} failed ({out.returncode}): {out.stderr}")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(results) != len(lines):
        raise SystemExit(f"{model}: {len(results)} results for {len(lines)} lines")
    unknown = set(results[0]["probs"]) - set(LABELS)
    if unknown:
        raise SystemExit(f"{model}: labels {sorted(unknown)} are not {LABELS} (see --labels)")
    probs = torch.tensor([[r["probs"].get(name, 0.0) for name in LABELS] for r in results])
    return probs, time.time() - t0


def scores(gold, probs):
    pred = probs.argmax(-1).tolist()
    polar = [i for i, g in enumerate(gold) if g != 1]
    return {
        "macro_recall": tweet_text.macro_recall(gold, pred),
        "recall": dict(zip(LABELS, tweet_text.per_class_recall(gold, pred))),
        "accuracy": sum(p == g for p, g in zip(pred, gold)) / len(gold),
        "polar_accuracy": tweet_text.polar_accuracy(gold, probs.tolist()),
        "polar_accuracy_3way": sum(pred[i] == gold[i] for i in polar) / len(polar),
        "predicted_share": {name: pred.count(c) / len(pred) for c, name in enumerate(LABELS)},
    }


def baseline(data_dir, holdout, split_seed, log, char_ngrams=None, cs=(0.3, 1.0, 3.0, 10.0)):
    texts, labels = tweet_text.read_split(data_dir, "train")
    texts = [tweet_text.clean_train_text(t) for t in texts]
    fit, held = tweet_text.holdout_split(labels, holdout, split_seed)
    vec = tfidf_lr.TfidfVectorizer(word_ngrams=(1, 2), char_ngrams=char_ngrams, min_df=2)
    vec.fit([texts[i] for i in fit])
    X = vec.transform(texts).to_sparse_csr()
    y = torch.tensor(labels)
    fit_t, held_t = torch.tensor(fit), torch.tensor(held)
    held_gold = [labels[i] for i in held]
    best = None
    for c in cs:
        lr = tfidf_lr.LogisticRegression(X.shape[1], 3, 1.0 / (c * len(fit)))
        lr.fit(tfidf_lr.rows(X, fit_t), y[fit_t])
        held_probs = lr.predict_proba(tfidf_lr.rows(X, held_t))
        mr = tweet_text.macro_recall(held_gold, held_probs.argmax(-1).tolist())
        log(f"  baseline {'word+char' if char_ngrams else 'word'} C={c}: held-out macro recall {mr:.4f}")
        if best is None or mr > best[0]:
            best = (mr, c, lr, held_probs)
    _, c, lr, held_probs = best
    offsets, _ = best_offsets(torch.log(held_probs), held_gold)
    return vec, lr, c, offsets


def row(name, s):
    r = s["recall"]
    return (f"| {name} | **{100 * s['macro_recall']:.1f}** | {100 * r['negative']:.1f} / "
            f"{100 * r['neutral']:.1f} / {100 * r['positive']:.1f} | **{100 * s['polar_accuracy']:.1f}** | "
            f"{100 * s['polar_accuracy_3way']:.1f} | {100 * s['accuracy']:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", default=os.path.join(REPO_ROOT, "build", "release", "sluice"))
    ap.add_argument("--model", action="append",
                    help="model directory (repeatable); default: models/sentiment-tweet-small")
    ap.add_argument("--data", default=os.path.join(REPO_ROOT, "..", "shared", "data", "tweeteval-sentiment"))
    ap.add_argument("--holdout", type=float, default=0.1, help="as tools/train_sentiment.py --holdout")
    ap.add_argument("--split-seed", type=int, default=13, help="as tools/train_sentiment.py --seed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default=None,
                    help="comma list of CPU GEMM precisions (fp32,bf16,int8) to run each model in; "
                         "default: sluice's own default only")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--char-baseline", action="store_true",
                    help="also the stronger variant with character 2-5-grams (the trainer's teacher)")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--update-card", action="store_true",
                    help="write the table into the first model's README.md (between the trainer's markers)")
    args = ap.parse_args()
    models = args.model or [os.path.join(REPO_ROOT, "models", "sentiment-tweet-small")]
    torch.set_num_threads(1)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    tweet_text.read_mapping(args.data)
    lines, gold = read_test_lines(args.data)
    report = {"test_tweets": len(gold), "models": {}}
    rows = []
    precisions = args.precision.split(",") if args.precision else [None]
    for m in models:
        for p in precisions:
            probs, secs = classify(args.sluice, m, lines, args.threads, p)
            s = scores(gold, probs)
            s["seconds"] = round(secs, 1)
            key = m if p is None else f"{m} --precision {p}"
            report["models"][key] = s
            how = "sluice classify" + (f" --precision {p}" if p else "")
            rows.append(row(f"`{os.path.basename(os.path.normpath(m))}` ({how})", s))
            log(f"{key}: {json.dumps(s)}")
    variants = [] if args.no_baseline else [("baseline", "word 1-2-grams", None, (0.3, 1.0, 3.0, 10.0))]
    if args.char_baseline:
        variants.append(("char_baseline", "word 1-2 + char 2-5-grams", (2, 5), (1.0, 3.0, 10.0)))
    for key, what, char_ngrams, cs in variants:
        t0 = time.time()
        vec, lr, c, offsets = baseline(args.data, args.holdout, args.split_seed, log, char_ngrams, cs)
        probs = lr.predict_proba(vec.transform(lines).to_sparse_csr())
        plain = scores(gold, probs)
        balanced = scores(gold, torch.softmax(torch.log(probs) + offsets, -1))
        report[key] = {"C": c, "offsets": offsets.tolist(), "plain": plain, "with_offsets": balanced,
                       "seconds": round(time.time() - t0, 1)}
        rows.append(row(f"TF-IDF + LR baseline ({what}, C={c})", plain))
        rows.append(row("the same with held-out class offsets", balanced))
    table = "\n".join(["| model | macro recall | recall neg / neu / pos | neg/pos | neg/pos 3-way | accuracy |",
                       "|---|---|---|---|---|---|"] + rows)
    print(table)
    if args.update_card:
        card = os.path.join(models[0], "README.md")
        with open(card, encoding="utf-8") as f:
            text = f.read()
        if CARD_BEGIN not in text or CARD_END not in text:
            raise SystemExit(f"{card}: no {CARD_BEGIN} ... {CARD_END} section to update")
        head, rest = text.split(CARD_BEGIN, 1)
        _, tail = rest.split(CARD_END, 1)
        section = (f"{len(gold):,} test tweets (3,972 negative, 5,937 neutral, 2,375 positive), raw lines "
                   f"as a stream carries them; `/usr/bin/python3 tools/eval_sentiment.py{' --char-baseline' if args.char_baseline else ''} "
                   f"--update-card` (metrics: see that script). Baselines are trained on the same fit part "
                   f"of train and tuned on the same held-out part.\n\n{table}\n")
        with open(card, "w", encoding="utf-8") as f:
            f.write(head + CARD_BEGIN + "\n" + section + CARD_END + tail)
        log(f"updated {card}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
