#!/usr/bin/python3
"""tools/train_sentiment.py's model card: retraining into a model directory
rewrites the generated sections and keeps the hand-kept ones (here the shipped
card's "CPU precision" and "Tried" records) verbatim, once each, however often
it is rewritten; a new directory gets the template alone. Exits 0 when all
hold, 1 otherwise."""

import argparse
import os
import shutil
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import train_sentiment  # noqa: E402

SHIPPED = os.path.join(ROOT, "models", "sentiment-tweet-small", "README.md")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def section(card, heading):
    """The text of the `## heading...` section, or None."""
    parts = card.split("\n## ")
    hits = [p for p in parts if p.startswith(heading)]
    return hits[0] if len(hits) == 1 else None


def write(out, epochs):
    args = argparse.Namespace(holdout=0.1, kd_weight=0.5, kd_temperature=2.0, epochs=epochs,
                              data="/d", out=out, no_save=False)
    config = types.SimpleNamespace(num_hidden_layers=2, hidden_size=128, num_attention_heads=2,
                                   intermediate_size=512, max_position_embeddings=128, vocab_size=100)
    train_sentiment.write_model_card(out, args, config, 2.4e6, "summary line", 60.0, 60.0)
    with open(os.path.join(out, "README.md"), encoding="utf-8") as f:
        return f.read()


def main():
    with open(SHIPPED, encoding="utf-8") as f:
        shipped = f.read()
    work = tempfile.mkdtemp(prefix="sluice-card-check.")
    try:
        out = os.path.join(work, "model")
        os.makedirs(out)
        with open(os.path.join(out, "model.safetensors"), "wb") as f:
            f.write(b"\0" * 1024)

        fresh = write(out, epochs=3)
        check(section(fresh, "CPU precision") is None and section(fresh, "Tried") is None,
              "a new directory gets the template's sections only")

        shutil.copy(SHIPPED, os.path.join(out, "README.md"))
        card = write(out, epochs=4)
        for heading in ("CPU precision", "Tried"):
            kept, before = section(card, heading), section(shipped, heading)
            check(kept is not None and before is not None and kept.rstrip() == before.rstrip(),
                  f"the shipped card's '{heading}' section is kept verbatim (trailing blank lines aside), once")
        check(card.count("\n## Training\n") == 1 and "--epochs 4" in card and "--epochs 5" not in card,
              "the Training section is the new run's")
        check("Not measured yet" in card, "the test-split table is reset for the new weights")
        check(card.find("\n## Tried") != -1
              and card.find("\n## Tried") < card.find("\n## Checking it") < card.find("\n## Licence"),
              "kept sections come before 'Checking it'")

        again = write(out, epochs=4)
        check(again == card, "rewriting the card again changes nothing (no section doubled)")
    finally:
        shutil.rmtree(work)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
