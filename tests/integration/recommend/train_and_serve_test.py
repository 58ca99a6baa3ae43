#!/usr/bin/python3
"""tools/train_recommender.py → sluice recommend, on small synthetic
MovieLens-format files (the `::` ratings.dat of ml-1m/ml-10m and the CSV of
ml-latest), for both model kinds (ease, pooled): each trained directory must
load in sluice, and sluice's prequential hits on the file must equal the
Python reference's (tools/eval_recommender.py --model --sluice), so the
trainer, the directory format and the C++ scorer agree without ../shared.

    /usr/bin/python3 tests/integration/recommend/train_and_serve_test.py SLUICE
"""
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import recommender_lib as R  # noqa: E402


def write_ratings(path, seed, dat):
    rng = random.Random(seed)
    t = 1_000_000_000
    with open(path, "w") as f:
        if not dat:
            f.write("userId,movieId,rating,timestamp\n")
        for _ in range(3000):
            u, i = rng.randint(1, 60), int(rng.paretovariate(1.2)) % 80 + 1
            t += rng.randint(0, 100)  # equal timestamps too
            r = rng.choice([1, 2.5, 3, 4.5, 5])
            f.write(f"{u}::{i}::{r}::{t}\n" if dat else f"{u},{i},{r},{t}\n")


def main():
    sluice = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, kind in (("dat", "ease"), ("csv", "ease"), ("csv", "pooled")):
            ratings = os.path.join(tmp, f"ratings.{fmt}")
            write_ratings(ratings, 3 if fmt == "dat" else 4, fmt == "dat")
            train, _ = R.split_at_fraction(R.read_ratings(ratings), 0.8)
            out = os.path.join(tmp, f"model-{fmt}-{kind}")
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "train_recommender.py"),
                            "--ratings", ratings, "--until", str(int(train.ts[-1])), "--out", out,
                            "--model", kind, "--dim", "8", "--history", "5", "--max-seen", "20",
                            "--epochs", "1"], check=True, stdout=subprocess.DEVNULL)
            p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "eval_recommender.py"),
                                "--ratings", ratings, "--model", out, "--sluice", sluice],
                               capture_output=True, text=True)
            print(f"{fmt} {kind}:\n{p.stdout}{p.stderr[-2000:] if p.returncode else ''}", flush=True)
            failures += p.returncode != 0
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
