"""TF-IDF + multinomial logistic regression in PyTorch (scikit-learn is not
installed here). Two uses: the baseline the tweet model must beat
(tools/eval_sentiment.py: word 1-2-grams, as scikit-learn's
`TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)` +
`LogisticRegression`), and the teacher tools/train_sentiment.py distils from
(word 1-2-grams plus character 2-5-grams within words).

Features: lower-cased words of `\\w\\w+` (scikit-learn's default token
pattern), n-grams seen in at least `min_df` training documents, sublinear tf
(1 + log tf), smooth idf (log((1 + n) / (1 + df)) + 1), rows L2-normalised.
Training: full-batch L-BFGS on the mean cross-entropy plus `l2 / 2 * |W|^2`
(scikit-learn's C is 1 / (l2 * n)). Deterministic on CPU.
"""

import math
import re
import warnings
from collections import Counter

import torch

# CSR products are what makes the teacher fast; torch 1.13 calls them beta.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

_WORD = re.compile(r"(?u)\b\w\w+\b")


class TfidfVectorizer:
    def __init__(self, word_ngrams=(1, 2), char_ngrams=None, min_df=2, extra_terms=None):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.extra_terms = extra_terms  # text -> more terms (tools/sentiment_lexicon.py)
        self.index = {}
        self.idf = None

    def _terms(self, text):
        text = text.lower()
        words = _WORD.findall(text)
        lo, hi = self.word_ngrams
        terms = []
        for n in range(lo, hi + 1):
            terms += ["w:" + " ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        if self.char_ngrams:
            clo, chi = self.char_ngrams
            for w in text.split():
                w = f" {w} "
                for n in range(clo, chi + 1):
                    terms += ["c:" + w[i:i + n] for i in range(len(w) - n + 1)]
        if self.extra_terms:
            terms += self.extra_terms(text)
        return terms

    def fit(self, texts):
        df = Counter()
        for t in texts:
            df.update(set(self._terms(t)))
        kept = sorted(term for term, c in df.items() if c >= self.min_df)
        self.index = {term: i for i, term in enumerate(kept)}
        n = len(texts)
        self.idf = torch.tensor([math.log((1 + n) / (1 + df[t])) + 1 for t in kept], dtype=torch.float32)
        return self

    def transform(self, texts):
        """Sparse COO matrix [len(texts), n_features] (float32; .to_sparse_csr()
        for fast products)."""
        rows, cols, vals = [], [], []
        for r, t in enumerate(texts):
            tf = Counter(self.index[x] for x in self._terms(t) if x in self.index)
            if not tf:
                continue
            ids = sorted(tf)
            w = [(1.0 + math.log(tf[i])) * float(self.idf[i]) for i in ids]
            norm = math.sqrt(sum(v * v for v in w))
            rows += [r] * len(ids)
            cols += ids
            vals += [v / norm for v in w]
        return torch.sparse_coo_tensor(torch.tensor([rows, cols], dtype=torch.long),
                                       torch.tensor(vals, dtype=torch.float32),
                                       (len(texts), len(self.index))).coalesce()


def rows(X, idx):
    """Rows idx of a sparse CSR matrix, as a CSR matrix."""
    crow, col, val = X.crow_indices(), X.col_indices(), X.values()
    starts, ends = crow[idx], crow[idx + 1]
    counts = ends - starts
    take = torch.repeat_interleave(starts - torch.cumsum(counts, 0) + counts, counts) + torch.arange(int(counts.sum()))
    new_crow = torch.cat([torch.zeros(1, dtype=crow.dtype), torch.cumsum(counts, 0)])
    return torch.sparse_csr_tensor(new_crow, col[take], val[take], (len(idx), X.shape[1]))


class LogisticRegression:
    def __init__(self, n_features, n_classes, l2):
        self.l2 = l2
        self.W = torch.zeros(n_features, n_classes, requires_grad=True)
        self.b = torch.zeros(n_classes, requires_grad=True)

    def logits(self, X):
        return X @ self.W + self.b

    def fit(self, X, y, max_iter=300, class_weight=None):
        y = torch.as_tensor(y, dtype=torch.long)
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        opt = torch.optim.LBFGS([self.W, self.b], lr=1.0, max_iter=max_iter, history_size=20,
                                tolerance_grad=1e-6, tolerance_change=1e-9,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.logits(X), y, weight=weight)
            loss = loss + 0.5 * self.l2 * (self.W * self.W).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self

    @torch.no_grad()
    def predict_proba(self, X):
        return torch.softmax(self.logits(X), dim=-1)
