#!/usr/bin/python3
"""The prequential evaluation of sluice's recommendation models, as a stream
sees them (issue 14):

  sort the events by time (equal timestamps keep the file's order), train on
  the first 80 %, then replay the rest in order; each replayed event of user
  u is a hit when its item is in the top-10 recommended to u after u's
  previous event (the popularity list when u has none); items u has seen are
  never recommended. HR@10 = hits / replayed events; NDCG@10 adds
  1/log2(rank + 1) per hit.

Per-user state follows sluice's recommend_state exactly (recommender_lib.py):
the last `history` items the model knows, and at most `max_seen` seen items.

    /usr/bin/python3 tools/eval_recommender.py                 # every model (~10 min on 2 cores)
    /usr/bin/python3 tools/eval_recommender.py --quick         # without the softmax-trained model
    /usr/bin/python3 tools/eval_recommender.py --model models/recommend-ml-small \\
        --sluice build/release/sluice                          # one model: Python and `sluice recommend`

Model choice never looks at the replayed 20 %: every hyper-parameter (and the
default model) is chosen on a time split of the training part itself (its
first 80 % fits, its last 20 % is replayed the same way), then each model is
fitted again on the whole training part and replayed once for the report.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recommender_lib as R  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RATINGS = os.path.join(ROOT, "..", "shared", "data", "movielens-latest-small", "ratings.csv")
HISTORY, MAX_SEEN, K = 20, 4096, 10


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt(r):
    return f"HR@10 {r[0]:.4f}  NDCG@10 {r[1]:.4f}  ({r[2]}/{r[3]})"


# ---- the candidates ----------------------------------------------------------------------------------
# Each family: a list of configs; fit(train, catalogue, config) -> scorer.

def fit_popularity(train, cat, cfg):
    return R.Popularity(cat)


def fit_knn(train, cat, cfg):
    return R.ItemKnn(cat, train, cfg["decay"])


def fit_ease(train, cat, cfg):
    w = R.fit_ease(train, cat, lam=cfg["lam"], dim=cfg["dim"], decay=cfg["decay"],
                   history_length=HISTORY, log=log)
    return R.PooledScorer(w, R.Popularity(cat).scores)


FAMILIES = {
    "popularity": (fit_popularity, [{}]),
    # decay 1: the "last 20 items, cosine" baseline, equal weights.
    "item-knn": (fit_knn, [{"decay": d} for d in (1.0, 0.9, 0.8, 0.7, 0.6)]),
    "ease-lowrank": (fit_ease, [{"lam": lam, "dim": 128, "decay": d}
                                for lam in (200.0, 500.0, 1000.0) for d in (0.8, 0.9)]),
}


def select_and_report(events, fraction, quick):
    train, replay = R.split_at_fraction(events, fraction)
    fit_part, _ = R.split_at_fraction(train, fraction)
    log(f"{len(events)} events: training part {len(train)} (until ts {train.ts[-1]}), "
        f"replayed {len(replay)}; selection: fit on {len(fit_part)}, replay {len(train) - len(fit_part)}")
    rows = []
    cat_fit = R.Catalogue(fit_part)
    cat = R.Catalogue(train)
    n0_fit, n0 = len(fit_part), len(train)

    def val(scorer):
        return R.prequential(scorer, train, cat_fit, n0_fit, HISTORY, MAX_SEEN, K)

    def test(scorer):
        return R.prequential(scorer, events, cat, n0, HISTORY, MAX_SEEN, K)

    # The quoted baselines, reproduced (not candidates: online counts
    # are not a fixed model, and uniform kNN is in the grid below).
    t = time.time()
    online = R.prequential(None, events, cat, n0, HISTORY, MAX_SEEN, K, online_popularity=True)
    log(f"popularity, online counts: {fmt(online)} ({time.time() - t:.0f} s)")
    rows.append({"model": "popularity (online counts, the issue's baseline)", "config": {},
                 "val": None, "test": online})

    families = dict(FAMILIES)
    if not quick:
        families["pooled-softmax"] = (None, None)
    for name, (fit, grid) in families.items():
        t = time.time()
        if name == "pooled-softmax":
            # Epochs chosen on the split: evaluate after each epoch.
            curve = []
            R.train_pooled(fit_part, cat_fit, dim=128, history_length=HISTORY, max_seen=MAX_SEEN,
                           epochs=4, log=log, after_epoch=lambda e, w: curve.append(
                               (e, val(R.PooledScorer(w, R.Popularity(cat_fit).scores)))))
            for e, r in curve:
                log(f"  {name} epochs={e}: val {fmt(r)}")
            best_e, best_val = max(curve, key=lambda c: c[1][0])
            cfg = {"epochs": best_e, "dim": 128}
            w = R.train_pooled(train, cat, dim=128, history_length=HISTORY, max_seen=MAX_SEEN,
                               epochs=best_e, log=log)
            r = test(R.PooledScorer(w, R.Popularity(cat).scores))
        else:
            scored = []
            for cfg in grid:
                v = val(fit(fit_part, cat_fit, cfg))
                log(f"  {name} {cfg}: val {fmt(v)}")
                scored.append((v, cfg))
            best_val, cfg = max(scored, key=lambda s: s[0][0])
            if name == "item-knn":  # the equal-weight baseline too
                uniform = [s for s in scored if s[1]["decay"] == 1.0][0]
                rows.append({"model": "item-knn, last 20, equal weights (the issue's)",
                             "config": uniform[1], "val": uniform[0],
                             "test": test(fit(train, cat, uniform[1]))})
            r = test(fit(train, cat, cfg))
        log(f"{name}: chosen {cfg} (val {fmt(best_val)}) -> replay {fmt(r)} ({time.time() - t:.0f} s)")
        rows.append({"model": name, "config": cfg, "val": best_val, "test": r})
    return rows, train


def print_table(rows, default):
    print("| model | chosen on the training split | split HR@10 / NDCG@10 | replay HR@10 | replay NDCG@10 |")
    print("|---|---|---|---|---|")
    for row in rows:
        v = row["val"]
        mark = " **(default)**" if row["model"] == default else ""
        cfg = ", ".join(f"{k} {v_}" for k, v_ in row["config"].items()) or "—"
        vs = f"{v[0]:.4f} / {v[1]:.4f}" if v else "—"
        print(f"| {row['model']}{mark} | {cfg} | {vs} | {row['test'][0]:.4f} | {row['test'][1]:.4f} |")


# ---- one model directory, in Python and through sluice --------------------------------------------

def write_events(events, path):
    """Events as sluice reads them, one JSON object per line, in stream
    order. Digit-only ids are written as JSON integers (the same id as the
    string: sluice keeps an integer's digits)."""
    def ident(x):
        return int(x) if x.isdigit() and len(x) < 16 else x
    with open(path, "w", encoding="utf-8") as f:
        for u, i, r, t in zip(events.users, events.items, events.ratings, events.ts):
            f.write(json.dumps({"user": ident(u), "item": ident(i), "ts": int(t), "rating": float(r)},
                               ensure_ascii=False) + "\n")


def sluice_prequential(sluice, model_dir, events, count_from, catalogue, extra_args=()):
    """Runs `sluice recommend` over every event and scores the replayed ones
    from its output lines (each the user's top-10 after that event)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        write_events(events, path)
        t = time.time()
        with open(path, "rb") as stdin:
            p = subprocess.run([sluice, "recommend", "--model", model_dir, "--k", str(K), *extra_args],
                               stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if p.returncode != 0:
            sys.exit(f"sluice recommend failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
        seconds = time.time() - t
    lines = p.stdout.decode("utf-8").splitlines()
    if len(lines) != len(events):
        sys.exit(f"sluice recommend wrote {len(lines)} lines for {len(events)} events")
    cold = catalogue.ids[:K]
    last = {}
    hits, dcg, count = 0, 0.0, 0
    for k, line in enumerate(lines):
        out = json.loads(line)
        if out.get("event_offset") != k:
            sys.exit(f"line {k}: event_offset {out.get('event_offset')}: out of order")
        u, item = events.users[k], events.items[k]
        if k >= count_from:
            top = last.get(u, cold)
            count += 1
            if item in top:
                hits += 1
                dcg += 1.0 / math.log2(top.index(item) + 2)
        if "error" in out:
            sys.exit(f"line {k}: sluice rejected event: {out}")
        if out["user"] != u:
            sys.exit(f"line {k}: user {out['user']!r}, expected {u!r}")
        last[u] = out["items"]
    return (hits / count, dcg / count, hits, count), seconds


def evaluate_model_dir(path, ratings, fraction, sluice, min_hr=None):
    config, weights, ids = R.load_model_dir(path)
    cat = R.Catalogue.from_ids(ids)
    events = R.read_ratings(ratings)
    train, _ = R.split_at_fraction(events, fraction)
    if config.get("trained_until") is not None and config["trained_until"] != int(train.ts[-1]):
        log(f"note: {path} was trained until ts {config['trained_until']}, the split's training part "
            f"ends at {train.ts[-1]}")
    n0 = len(train)
    history, max_seen = config["history_length"], config["max_seen"]
    scorer = R.PooledScorer(weights, torch.arange(len(ids), 0, -1, dtype=torch.float32))
    t = time.time()
    py = R.prequential(scorer, events, cat, n0, history, max_seen, K)
    print(f"python  {os.path.basename(os.path.normpath(path))}: {fmt(py)}  ({time.time() - t:.0f} s)")
    if not sluice:
        return 0
    sl, seconds = sluice_prequential(sluice, path, events, n0, cat)
    print(f"sluice  {os.path.basename(os.path.normpath(path))}: {fmt(sl)}  "
          f"(`sluice recommend`, {len(events)} events in {seconds:.1f} s)")
    same = round(py[0], 3) == round(sl[0], 3) and round(py[1], 3) == round(sl[1], 3)
    print(f"hits: python {py[2]}, sluice {sl[2]}; equal to 3 decimals: {'yes' if same else 'NO'}")
    good = min_hr is None or sl[0] >= min_hr
    if not good:
        print(f"sluice's HR@10 {sl[0]:.4f} is below --min-hr {min_hr}")
    return 0 if same and good else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratings", default=DEFAULT_RATINGS)
    ap.add_argument("--fraction", type=float, default=0.8, help="training part of the events")
    ap.add_argument("--quick", action="store_true", help="skip the softmax-trained model")
    ap.add_argument("--model", help="evaluate this model directory only")
    ap.add_argument("--sluice", help="with --model: also through this sluice binary")
    ap.add_argument("--min-hr", type=float, help="with --model --sluice: fail below this HR@10")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not os.path.exists(args.ratings):
        print(f"no ratings file at {args.ratings}", file=sys.stderr)
        sys.exit(77)
    if args.model:
        sys.exit(evaluate_model_dir(args.model, args.ratings, args.fraction, args.sluice, args.min_hr))
    t = time.time()
    events = R.read_ratings(args.ratings)
    rows, train = select_and_report(events, args.fraction, args.quick)
    candidates = [r for r in rows if r["val"] is not None and "issue" not in r["model"]]
    default = max(candidates, key=lambda r: r["val"][0])["model"]
    print(f"\n{os.path.basename(args.ratings)}: {len(events)} events, trained until ts {train.ts[-1]} "
          f"(first {args.fraction:.0%}), replayed {len(events) - len(train)}; "
          f"default = best on the training split: {default} ({time.time() - t:.0f} s)\n")
    print_table(rows, default)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "default": default}, f, indent=1)


if __name__ == "__main__":
    main()
