#!/usr/bin/python3
"""The pre-trained word vectors of the sentiment trainer (tools/word_vectors.py
and tools/train_sentiment.py --word-vectors): both file formats load, bad
files are refused naming the file (and line), vocabulary expansion takes the
most frequent plain words the vocabulary lacks, the starting embeddings keep
the vectors' angles, and after training the rarely seen tokens land where the
often seen ones' map puts them. Exits 0 when all hold, 1 otherwise."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bert_model  # noqa: E402
import train_sentiment  # noqa: E402
import word_vectors as wv  # noqa: E402
import wordpiece_vocab  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def refused(work, name, content, named):
    path = os.path.join(work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    try:
        wv.load(path)
        check(False, f"{name}: refused")
    except ValueError as e:
        check(path + named in str(e), f"{name}: refused naming {os.path.basename(path) + named} ({e})")


def formats(work):
    text = os.path.join(work, "glove.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("the 0.5 -1 2\ngood 1 2 3\nbad -1 -2 -3\n")
    words, mat = wv.load(text)
    check(words == ["the", "good", "bad"] and mat.shape == (3, 3) and mat[1].tolist() == [1, 2, 3],
          "GloVe text: words in file order, one row each")
    check(wv.load(text, limit=2)[0] == ["the", "good"], "GloVe text: limit keeps the most frequent")
    wink = os.path.join(work, "wink.json")
    with open(wink, "w", encoding="utf-8") as f:  # wink appends each vector's norm and index
        json.dump({"dimensions": 2, "words": ["a", "b"], "vectors": {"a": [1, 2, 2.2, 0], "b": [3, 4, 5, 1]}}, f)
    words, mat = wv.load(wink)
    check(words == ["a", "b"] and mat.tolist() == [[1, 2], [3, 4]], "wink JSON: the first `dimensions` numbers")
    refused(work, "short.txt", "the 1 2 3\ngood 1 2\n", ":2:")
    refused(work, "words.txt", "the 1 x 3\n", ":1:")
    refused(work, "empty.txt", "", ":")
    refused(work, "nodims.txt", "the\n", ":1:")
    refused(work, "notjson.json", "{", ":")
    refused(work, "missing.json", json.dumps({"dimensions": 2, "words": ["a"], "vectors": {}}), ":")
    refused(work, "huge.json", json.dumps({"dimensions": 10 ** 6, "words": [], "vectors": {}}), ":")


def trainer_refuses(work):
    """The trainer stops at once, exit 2, naming the option and the file."""
    bad = os.path.join(work, "bad-vectors.txt")
    with open(bad, "w", encoding="utf-8") as f:
        f.write("good 1 2\nbad 1\n")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_sentiment.py"), "--word-vectors", bad,
                        "--no-save", "--data", os.path.join(work, "no-data")],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 2 and f"--word-vectors: {bad}:2:" in r.stderr,
          f"train_sentiment.py --word-vectors BAD exits 2 naming it (exit {r.returncode}: {r.stderr.strip()[:200]})")


def expansion():
    words = ["the", ",", "good", "café", "go", "bad", "awful", "nice"]
    got = wv.expansion_words(words, ["[PAD]", "the", "bad"], 3, train_sentiment.is_plain_word)
    check(got == ["good", "awful", "nice"], f"expansion: frequent plain words not in the vocabulary, in order ({got})")


def ridge():
    rng = np.random.default_rng(1)
    src = rng.standard_normal((400, 5)).astype(np.float32)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    w = wv.ridge_map(src, src @ a + b, alpha=1e-6)
    err = np.abs(wv.apply_map(w, src[:10]) - (src[:10] @ a + b)).max()
    check(err < 1e-3, f"ridge map recovers an affine map (max error {err:.2e})")


def trainer_embeddings():
    """init_from_vectors and map_rare_from_vectors on a small model."""
    rng = np.random.default_rng(2)
    words = [f"w{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + [f"v{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    words += [f"u{i:03d}" for i in range(300)]
    vectors = (words, rng.standard_normal((len(words), 8)).astype(np.float32))
    vocab = wordpiece_vocab.SPECIAL_TOKENS + ["##x"] + words
    tok = wordpiece_vocab.WordPieceTokenizer(vocab)
    config = bert_model.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, max_position_embeddings=16,
                                   num_labels=3)
    model = bert_model.BertForSequenceClassification(config)
    emb = model.bert.embeddings.word_embeddings.weight
    before_cont = emb[tok.token_to_id["##x"]].clone()
    skip = {tok.token_to_id["wa"]}
    train_sentiment.init_from_vectors(model, tok, vectors, skip, seed=3)
    ids = [tok.token_to_id[w] for w in words[1:]]
    e = emb.detach()[ids].numpy()
    g = vectors[1][1:]
    cos_e = (e @ e.T) / np.outer(np.linalg.norm(e, axis=1), np.linalg.norm(e, axis=1))
    cos_g = (g @ g.T) / np.outer(np.linalg.norm(g, axis=1), np.linalg.norm(g, axis=1))
    check(np.abs(cos_e - cos_g).max() < 1e-4, "the starting embeddings keep the vectors' angles")
    norm = float(np.linalg.norm(e, axis=1).mean())
    want = config.initializer_range * config.hidden_size ** 0.5
    check(abs(norm - want) < 1e-3 * want, f"... at the initialiser's norm ({norm:.4f}, want {want:.4f})")
    check(torch.equal(emb[tok.token_to_id["##x"]], before_cont), "... and pieces and skipped tokens are left alone")

    # "Trained" embeddings: an affine map of the vectors for the often seen
    # tokens, noise for the rarely seen ones, which the map must replace.
    a, b = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    with torch.no_grad():
        for w, row in zip(words, vectors[1]):
            emb[tok.token_to_id[w]] = torch.from_numpy(row @ a + b)
        rare = [tok.token_to_id[w] for w in words[:26]]
        emb[rare] = torch.randn(len(rare), 16)
    seen = torch.zeros(len(vocab), dtype=torch.long)
    for w in words[26:]:
        seen[tok.token_to_id[w]] = 50
    seen[tok.token_to_id["wb"]] = 4
    seen[tok.token_to_id["wc"]] = 5  # seen often enough: keeps its noise
    train_sentiment.map_rare_from_vectors(model, tok, vectors, seen, skip, rare=5)
    mapped = [1] + list(range(3, 26))  # wb (seen 4 times) and wd..wz (never)
    want_rows = torch.from_numpy(vectors[1][mapped] @ a + b)
    got_rows = emb.detach()[[tok.token_to_id[words[k]] for k in mapped]]
    err = float((got_rows - want_rows).abs().max())
    check(err < 0.05, f"rare tokens are set through the map fitted on the often seen ones (max error {err:.3f})")
    wc_map = torch.from_numpy(vectors[1][2] @ a + b)
    check(not torch.allclose(emb[tok.token_to_id["wc"]], wc_map, atol=0.05),
          "a token seen --word-vectors-rare times keeps its own")


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="sluice-wv-check.") as work:
        formats(work)
        trainer_refuses(work)
    expansion()
    ridge()
    trainer_embeddings()
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
