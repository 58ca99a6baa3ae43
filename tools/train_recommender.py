#!/usr/bin/python3
"""Trains a recommendation model for sluice's recommend_* operators from a
MovieLens-format ratings file (userId,movieId,rating,timestamp; any of the
MovieLens sets, CSV or the older `::` ratings.dat), on the events up to a
time, and writes the model directory sluice loads:

    config.json        model_type sluice-recommender, sizes, training facts
    model.safetensors  user_item_embeddings, item_embeddings, item_bias,
                       age_weights, item_popularity (F16 embeddings)
    item_ids.json      the item ids, index = row (most popular first)
    README.md          the model card

    /usr/bin/python3 tools/train_recommender.py \\
        --ratings ../shared/data/movielens-latest-small/ratings.csv \\
        --until 1339227101 --out models/recommend-ml-small      # the shipped model

The default model, chosen on a time split of the training events by
tools/eval_recommender.py (which reports every model): low-rank EASE, a
closed-form item-item model factorised to rank --dim, served as matrix
factorisation with fold-in (a user is the recency-weighted sum of the
factors of their last --history items). --model pooled trains the
recency-pooled model end to end with a softmax over the catalogue instead.

Deterministic (seeded) and CPU only; ml-latest-small trains in well under a
minute on 2 cores. Catalogues over --max-items items keep the most rated ones
(EASE inverts an items × items matrix).
"""

import argparse
import datetime
import hashlib
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recommender_lib as R  # noqa: E402

# Chosen by tools/eval_recommender.py on the training part's own time split
# of ml-latest-small (see its report).
DEFAULTS = {"model": "ease", "dim": 128, "lam": 500.0, "decay": 0.8, "history": 20,
            "max_seen": 4096, "epochs": 3}


def model_card(out, config, lines):
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(f"# {os.path.basename(os.path.normpath(out))}\n\n")
        f.write("A recommendation model for sluice's `recommend_state` / `recommend_score` "
                "operators, written by `tools/train_recommender.py`.\n\n")
        f.write("| key | value |\n|---|---|\n")
        for k in ("recommender", "num_items", "hidden_size", "history_length", "max_seen",
                  "trained_on", "trained_until", "training_events", "model_version"):
            f.write(f"| {k} | {config.get(k)} |\n")
        f.write("\nQuality (prequential HR@10 / NDCG@10) is measured by "
                "`tools/eval_recommender.py`; see the repository README.\n\n")
        f.write("Training log:\n\n```\n" + "\n".join(lines) + "\n```\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", required=True, help="MovieLens ratings file (CSV or ratings.dat)")
    ap.add_argument("--until", type=int, help="train on events with timestamp <= this (default: all)")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--model", choices=["ease", "pooled"], default=DEFAULTS["model"])
    ap.add_argument("--dim", type=int, default=DEFAULTS["dim"], help="embedding width")
    ap.add_argument("--lam", type=float, default=DEFAULTS["lam"], help="EASE L2 weight")
    ap.add_argument("--decay", type=float, default=DEFAULTS["decay"],
                    help="EASE: weight of an item per step of age (newest = 1)")
    ap.add_argument("--history", type=int, default=DEFAULTS["history"], help="recent items per user")
    ap.add_argument("--max-seen", type=int, default=DEFAULTS["max_seen"],
                    help="seen items kept per user (never recommended)")
    ap.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="pooled: epochs")
    ap.add_argument("--max-items", type=int, default=20000, help="largest catalogue kept")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["F16", "F32"], default="F16", help="embeddings on disk")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = []

    def log(msg):
        lines.append(msg)
        print(msg, flush=True)

    t0 = time.time()
    events = R.read_ratings(args.ratings)
    train = events if args.until is None else R.split_until(events, args.until)[0]
    if len(train) < 2:
        sys.exit(f"train_recommender: {len(train)} events up to --until: nothing to learn from")
    catalogue = R.Catalogue(train, max_items=args.max_items)
    log(f"{len(train)} of {len(events)} events (timestamps {train.ts[0]}..{train.ts[-1]}), "
        f"{len(set(train.users))} users, {len(catalogue)} items")
    if args.model == "ease":
        weights = R.fit_ease(train, catalogue, lam=args.lam, dim=args.dim, decay=args.decay,
                             history_length=args.history, log=log)
        kind = f"ease-lowrank (lambda {args.lam:g}, rank {args.dim}, recency decay {args.decay:g})"
    else:
        weights = R.train_pooled(train, catalogue, dim=args.dim, history_length=args.history,
                                 max_seen=args.max_seen, epochs=args.epochs, log=log)
        kind = f"pooled-softmax (dim {args.dim}, {args.epochs} epochs)"
    if args.dtype == "F16":  # the model sluice serves is the rounded one
        for k in ("user_item_embeddings", "item_embeddings"):
            weights[k] = weights[k].astype(np.float16).astype(np.float32)
    digest = hashlib.sha256()
    for k in sorted(weights):
        digest.update(np.ascontiguousarray(weights[k]).tobytes())
    info = {
        "recommender": kind,
        "model_version": digest.hexdigest()[:12],
        "trained_on": os.path.basename(args.ratings),
        "trained_until": int(train.ts[-1]),
        "trained_until_utc": datetime.datetime.utcfromtimestamp(int(train.ts[-1])).isoformat() + "Z",
        "training_events": len(train),
    }
    R.write_model_dir(args.out, catalogue, weights, args.history, args.max_seen, info,
                      dtype=args.dtype)
    log(f"wrote {args.out} ({kind}, version {info['model_version']}) in {time.time() - t0:.0f} s")
    config, _, _ = R.load_model_dir(args.out)
    model_card(args.out, config, lines)


if __name__ == "__main__":
    main()
