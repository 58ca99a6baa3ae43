"""Shared code of sluice's recommender tools: reading MovieLens-format ratings,
the per-user state sluice keeps, the prequential protocol, the models
(popularity, item-kNN, the learned recency-pooled embedding model), training,
and the model directory sluice loads.

Used by tools/train_recommender.py (trains and writes a model directory) and
tools/eval_recommender.py (the prequential evaluation of every model).

The per-user state here mirrors sluice's recommend_state operator exactly,
because the evaluation's numbers must equal what `sluice recommend` emits:
  - an event whose item the model does not know changes nothing;
  - `recent`: the user's last `history_length` known items, newest last; an
    item already there moves to the end (no duplicates);
  - `seen`: the known items the user has had, at most `max_seen`, oldest
    dropped first; never recommended.
A user with no recent item is cold: the popularity list (the catalogue
order, which is by training count).
"""

import collections
import csv
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_io

MODEL_TYPE = "sluice-recommender"
ARCHITECTURE = "RecencyPooledRecommender"
FORMAT_VERSION = 1


# ---- data ----------------------------------------------------------------------------------------

class Events:
    """Events in stream order: user and item ids (str), rating, timestamp."""

    def __init__(self, users, items, ratings, ts):
        self.users = users
        self.items = items
        self.ratings = np.asarray(ratings, np.float32)
        self.ts = np.asarray(ts, np.int64)

    def __len__(self):
        return len(self.users)

    def slice(self, begin, end):
        return Events(self.users[begin:end], self.items[begin:end], self.ratings[begin:end],
                      self.ts[begin:end])


def read_ratings(path):
    """A MovieLens ratings file: CSV with header userId,movieId,rating,timestamp
    (ml-latest, ml-20m, ml-25m, ...) or the older `::`-separated ratings.dat
    (ml-1m, ml-10m). Returns Events sorted by timestamp; equal timestamps keep
    the file's order (a stable sort), so the order is reproducible."""
    users, items, ratings, ts = [], [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        first = f.readline()
        if "::" in first:
            lines = [first] + f.readlines()
            for n, line in enumerate(lines, start=1):
                line = line.strip()
                if not line:
                    continue
                parts = line.split("::")
                if len(parts) < 4:
                    raise ValueError(f"{path}:{n}: expected user::item::rating::timestamp")
                users.append(parts[0]), items.append(parts[1])
                ratings.append(float(parts[2])), ts.append(int(parts[3]))
        else:
            header = [h.strip() for h in first.strip().split(",")]
            want = ["userId", "movieId", "rating", "timestamp"]
            if header[:4] != want:
                raise ValueError(f"{path}: header is {header}, expected {want}")
            for n, row in enumerate(csv.reader(f), start=2):
                if not row:
                    continue
                if len(row) < 4:
                    raise ValueError(f"{path}:{n}: expected 4 fields, got {row}")
                users.append(row[0]), items.append(row[1])
                ratings.append(float(row[2])), ts.append(int(row[3]))
    ts = np.asarray(ts, np.int64)
    order = np.argsort(ts, kind="stable")
    return Events([users[k] for k in order], [items[k] for k in order],
                  np.asarray(ratings, np.float32)[order], ts[order])


def split_at_fraction(events, fraction=0.8):
    """(train, replay): the first `fraction` of the events (by count) and the rest."""
    n = int(len(events) * fraction)
    return events.slice(0, n), events.slice(n, len(events))


def split_until(events, until):
    """(train, rest): events with timestamp <= until, and the others."""
    n = int(np.searchsorted(events.ts, until, side="right"))
    return events.slice(0, n), events.slice(n, len(events))


class Catalogue:
    """The items a model knows: those of its training events, ordered by
    training count (descending), ties by first appearance. Index 0 is the most
    popular item, so the popularity list is the catalogue order."""

    def __init__(self, train, max_items=None):
        counts = collections.Counter(train.items)
        first = {}
        for k, it in enumerate(train.items):
            first.setdefault(it, k)
        self.ids = sorted(counts, key=lambda it: (-counts[it], first[it]))[:max_items]
        self.index = {it: k for k, it in enumerate(self.ids)}
        self.counts = np.array([counts[it] for it in self.ids], np.int64)

    @classmethod
    def from_ids(cls, ids):
        """The catalogue of a model directory (item_ids.json)."""
        c = cls.__new__(cls)
        c.ids = list(ids)
        c.index = {it: k for k, it in enumerate(c.ids)}
        c.counts = np.zeros(len(c.ids), np.int64)
        return c

    def __len__(self):
        return len(self.ids)


# ---- per-user state, as sluice keeps it ------------------------------------------------------------

class UserState:
    __slots__ = ("recent", "seen", "seen_set")

    def __init__(self):
        self.recent = []  # newest last
        self.seen = collections.deque()  # insertion order, oldest first
        self.seen_set = set()

    def apply(self, item, history_length, max_seen):
        if item in self.recent:
            self.recent.remove(item)
        self.recent.append(item)
        if len(self.recent) > history_length:
            del self.recent[0]
        if item not in self.seen_set:
            self.seen.append(item)
            self.seen_set.add(item)
            if len(self.seen) > max_seen:
                self.seen_set.discard(self.seen.popleft())


def replay_states(events, catalogue, history_length, max_seen, count_from=0, chunk=4096,
                  warm_states=None):
    """Walks `events` in order and yields, in chunks, the state each event's
    user had *before* the event: (positions, users, recents, seens, targets)
    for events at positions >= count_from. targets: catalogue index or -1
    (an item the model does not know). States are updated after the snapshot.
    warm_states: a dict user -> UserState to continue from (modified)."""
    states = warm_states if warm_states is not None else {}
    buf = ([], [], [], [], [])
    for k in range(len(events)):
        u = events.users[k]
        t = catalogue.index.get(events.items[k], -1)
        st = states.get(u)
        if k >= count_from:
            buf[0].append(k)
            buf[1].append(u)
            buf[2].append(list(st.recent) if st else [])
            buf[3].append(list(st.seen) if st else [])
            buf[4].append(t)
            if len(buf[0]) == chunk:
                yield buf
                buf = ([], [], [], [], [])
        if t >= 0:
            if st is None:
                st = states[u] = UserState()
            st.apply(t, history_length, max_seen)
    if buf[0]:
        yield buf


# ---- top-K as sluice selects it --------------------------------------------------------------------

def top_k(scores, seens, k):
    """Per row: the k highest scores, seen items excluded, ties by lower index.
    scores: float tensor [B, N] (modified: seen entries become -inf)."""
    rows = [r for r, s in enumerate(seens) for _ in s]
    cols = [c for s in seens for c in s]
    if rows:
        scores[torch.tensor(rows), torch.tensor(cols)] = -math.inf
    n = scores.shape[1]
    k = min(k, n)
    # topk's order among equal scores is unspecified: take a margin, then sort
    # by (score desc, index asc) exactly.
    m = min(n, k + 16)
    vals, idx = torch.topk(scores, m, dim=1)
    out_i = np.empty((scores.shape[0], k), np.int64)
    out_s = np.empty((scores.shape[0], k), np.float32)
    v, ix = vals.numpy(), idx.numpy()
    for r in range(scores.shape[0]):
        order = np.lexsort((ix[r], -v[r]))[:k]
        out_i[r], out_s[r] = ix[r][order], v[r][order]
    return out_i, out_s


# ---- models ----------------------------------------------------------------------------------------
# Every model scores a batch of states: score(recents, seens) -> [B, N] float
# tensor. Cold rows (no recent item) are filled with the popularity scores.

class Popularity:
    name = "popularity"

    def __init__(self, catalogue):
        n = len(catalogue)
        # The catalogue is ordered by count: strictly decreasing, tie-free scores.
        self.scores = torch.arange(n, 0, -1, dtype=torch.float32)

    def score(self, recents):
        return self.scores.expand(len(recents), -1).clone()


class OnlinePopularity:
    """Popularity counted over every event so far (training and replayed):
    not a fixed model, but the baseline the issue quotes (HR@10 0.039)."""
    name = "popularity-online"


def recency_weights(n, decay):
    """Weights of the last n items, oldest first: decay^age (age 0 = newest)."""
    return np.array([decay ** (n - 1 - j) for j in range(n)], np.float32)


class ItemKnn:
    """Item-kNN: cosine similarity of items over the training users (binary
    interactions); a user's scores are the recency-weighted sum of the
    similarity rows of their recent items. decay=1: the plain last-N average."""
    name = "item-knn"

    def __init__(self, catalogue, train, decay):
        users = sorted(set(train.users))
        uidx = {u: k for k, u in enumerate(users)}
        pairs = {(catalogue.index[i], uidx[u]) for u, i in zip(train.users, train.items)}
        ii = torch.tensor([p[0] for p in pairs])
        uu = torch.tensor([p[1] for p in pairs])
        norm = torch.zeros(len(catalogue)).index_add_(0, ii, torch.ones(len(pairs))).sqrt()
        vals = 1.0 / norm[ii]
        self.x = torch.sparse_coo_tensor(torch.stack([ii, uu]), vals,
                                         (len(catalogue), len(users))).coalesce()
        self.decay = decay
        self.pop = Popularity(catalogue).scores

    def score(self, recents):
        b, n = len(recents), self.x.shape[0]
        rows, cols, w = [], [], []
        for r, rec in enumerate(recents):
            rows += [r] * len(rec)
            cols += rec
            w += list(recency_weights(len(rec), self.decay))
        wm = torch.sparse_coo_tensor(torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1),
                                     torch.tensor(w, dtype=torch.float32), (b, n))
        q = torch.sparse.mm(wm.coalesce(), self.x).to_dense()  # [B, users]
        s = torch.sparse.mm(self.x, q.t().contiguous()).t().contiguous()  # [B, N]
        # Ties (items no recent item co-occurs with) go to the more popular item.
        s = s + self.pop * 1e-9
        for r, rec in enumerate(recents):
            if not rec:
                s[r] = self.pop
        return s


class PooledModel(torch.nn.Module):
    """The learned model: a user is the recency-weighted sum of the input
    embeddings of their recent items, u = Σ_age w[age] · Q[item]; an item's
    score is u · P[item] + b[item]. Fold-in is free (a new event only changes
    the sum), and scoring a batch is one GEMM over the item matrix [P | b],
    which is what sluice's recommend_score runs."""
    name = "pooled"

    def __init__(self, n_items, dim, history_length):
        super().__init__()
        self.q = torch.nn.Embedding(n_items + 1, dim, padding_idx=n_items)  # last row: padding
        self.p = torch.nn.Parameter(torch.empty(n_items, dim))
        self.b = torch.nn.Parameter(torch.zeros(n_items))
        self.w = torch.nn.Parameter(torch.zeros(history_length))  # per age, age 0 = newest
        torch.nn.init.normal_(self.q.weight, std=0.05)
        torch.nn.init.normal_(self.p, std=0.05)
        with torch.no_grad():
            self.q.weight[n_items].zero_()
            self.w.copy_(torch.linspace(1.0, 0.0, history_length))
        self.n_items = n_items
        self.history_length = history_length

    def age_weights(self):
        return F.softplus(self.w)

    def user_vectors(self, hist):
        """hist: [B, L] catalogue indices, newest in the last column, left-padded with n_items."""
        e = self.q(hist)  # [B, L, d]
        w = self.age_weights().flip(0)  # column j has age L-1-j
        return (e * w[None, :, None]).sum(1)

    def forward(self, hist):
        return self.user_vectors(hist) @ self.p.t() + self.b


def pad_histories(recents, history_length, pad):
    h = np.full((len(recents), history_length), pad, np.int64)
    for r, rec in enumerate(recents):
        if rec:
            h[r, history_length - len(rec):] = rec
    return torch.from_numpy(h)


class PooledScorer:
    """Scores with a model directory's weights exactly as sluice computes
    them: fp32, u = Σ_j w[age_j] · Q[h_j] accumulated oldest to newest (one
    multiply and one add per term, as recommend_model.cpp does), then
    u · Pᵀ + b; cold users get the popularity scores."""
    name = "pooled"

    def __init__(self, weights, pop):
        self.q = torch.from_numpy(np.ascontiguousarray(weights["user_item_embeddings"], np.float32))
        self.p = torch.from_numpy(np.ascontiguousarray(weights["item_embeddings"], np.float32))
        self.b = torch.from_numpy(np.ascontiguousarray(weights["item_bias"], np.float32))
        self.w = torch.from_numpy(np.ascontiguousarray(weights["age_weights"], np.float32))
        self.pop = pop

    def user_vectors(self, recents):
        L = len(self.w)
        n = self.q.shape[0]
        q = torch.cat([self.q, torch.zeros(1, self.q.shape[1])])  # row n: nothing
        # Column j holds the j-th oldest recent item of each row (n when absent).
        h = np.full((len(recents), L), n, np.int64)
        ages = np.zeros((len(recents), L), np.int64)
        for r, rec in enumerate(recents):
            h[r, :len(rec)] = rec
            ages[r, :len(rec)] = np.arange(len(rec) - 1, -1, -1)
        h, ages = torch.from_numpy(h), torch.from_numpy(ages)
        u = torch.zeros(len(recents), self.q.shape[1])
        for j in range(L):
            u = u + self.w[ages[:, j]][:, None] * q[h[:, j]]
        return u

    def score(self, recents):
        s = self.user_vectors(recents) @ self.p.t() + self.b
        for r, rec in enumerate(recents):
            if not rec:
                s[r] = self.pop
        return s


def training_examples(train, catalogue, history_length, max_seen):
    """(histories, targets, seen lists) for every training event whose user
    already has a recent item and whose item is known and not yet seen."""
    hist, targets, seens = [], [], []
    for (_, _, recents, seen_lists, tgts) in replay_states(train, catalogue, history_length,
                                                           max_seen, chunk=1 << 30):
        for rec, seen, t in zip(recents, seen_lists, tgts):
            if t < 0 or not rec or t in seen:
                continue
            hist.append(rec)
            targets.append(t)
            seens.append(np.asarray(seen, np.int64))
    return hist, np.asarray(targets, np.int64), seens


def pooled_weights(model):
    n = model.n_items
    with torch.no_grad():
        return {
            "user_item_embeddings": model.q.weight[:n].detach().numpy().astype(np.float32).copy(),
            "item_embeddings": model.p.detach().numpy().astype(np.float32).copy(),
            "item_bias": model.b.detach().numpy().astype(np.float32).copy(),
            "age_weights": model.age_weights().detach().numpy().astype(np.float32).copy(),
        }


def train_pooled(train, catalogue, dim=128, history_length=20, max_seen=4096, epochs=3,
                 batch=512, lr=3e-3, dropout=0.3, l2=1e-4, seed=1, log=print, after_epoch=None):
    """The recency-pooled model trained end to end on next-item prediction:
    full softmax over the catalogue with the user's seen items masked out (as
    they are never recommended), dropout on history items, L2 on the
    embeddings used. after_epoch(epoch, weights) is called after each epoch.
    Returns the exported weights (numpy)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = len(catalogue)
    hist, targets, seens = training_examples(train, catalogue, history_length, max_seen)
    if len(targets) == 0:
        raise ValueError("no training examples: no user has two events of known items")
    H = pad_histories(hist, history_length, n)
    T = torch.from_numpy(targets)
    model = PooledModel(n, dim, history_length)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.time()
    for epoch in range(epochs):
        perm = rng.permutation(len(T))
        total = 0.0
        for s in range(0, len(T), batch):
            ix = perm[s:s + batch]
            h = H[ix]
            if dropout > 0:
                h = torch.where(torch.rand(h.shape) < dropout, torch.full_like(h, n), h)
            e = model.q(h)
            u = (e * model.age_weights().flip(0)[None, :, None]).sum(1)
            logits = u @ model.p.t() + model.b
            rows = np.repeat(np.arange(len(ix)), [len(seens[k]) for k in ix])
            if len(rows):
                cols = np.concatenate([seens[k] for k in ix])
                logits = logits.index_put((torch.from_numpy(rows), torch.from_numpy(cols)),
                                          torch.tensor(-1e9))
            loss = F.cross_entropy(logits, T[ix])
            if l2:
                loss = loss + l2 * (e.pow(2).sum() + model.p[T[ix]].pow(2).sum()) / len(ix)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(ix)
        log(f"    epoch {epoch + 1}/{epochs}: loss {total / len(T):.4f} ({time.time() - start:.0f} s)")
        if after_epoch:
            after_epoch(epoch + 1, pooled_weights(model))
    return pooled_weights(model)


def fit_ease(train, catalogue, lam=500.0, dim=128, decay=0.8, history_length=20, seed=1, log=print):
    """EASE (Steck, WWW 2019): the item-item weights B that best rebuild each
    training user's items from their other items, in closed form,
    P = (XᵀX + λI)⁻¹, B = I − P·diag(1/diag P) (zero diagonal). Served as a
    rank-`dim` factorisation B ≈ (U√S)(V√S)ᵀ, so a user is the recency-weighted
    sum of U√S rows of their recent items (fold-in) and the scores one GEMM
    with V√S. Returns the exported weights (numpy)."""
    t0 = time.time()
    torch.manual_seed(seed)
    n = len(catalogue)
    users = {}
    pairs = set()
    for u, i in zip(train.users, train.items):
        j = catalogue.index.get(i)
        if j is not None:
            pairs.add((users.setdefault(u, len(users)), j))
    uu = torch.tensor([p[0] for p in pairs])
    ii = torch.tensor([p[1] for p in pairs])
    x = torch.sparse_coo_tensor(torch.stack([uu, ii]), torch.ones(len(pairs)), (len(users), n)).coalesce()
    g = torch.sparse.mm(x.t().coalesce(), x).to_dense()
    if n <= 12000:  # double precision where it is affordable
        g = g.double()
    g.diagonal().add_(lam)
    p = torch.linalg.inv(g)
    del g
    b = -p / torch.diagonal(p)[None, :]
    b.fill_diagonal_(0.0)
    del p
    log(f"    EASE: {n} items, {len(users)} users, λ={lam:g} ({time.time() - t0:.0f} s)")
    d = min(dim, n)
    u_, s_, v_ = torch.svd_lowrank(b.float(), q=d, niter=6)
    root = s_.sqrt()
    q = (u_ * root).numpy().astype(np.float32)
    pm = (v_ * root).numpy().astype(np.float32)
    if d < dim:  # tiny catalogues: pad to the requested width
        q = np.pad(q, ((0, 0), (0, dim - d)))
        pm = np.pad(pm, ((0, 0), (0, dim - d)))
    log(f"    rank-{dim} factors ({time.time() - t0:.0f} s)")
    return {
        "user_item_embeddings": q,
        "item_embeddings": pm,
        "item_bias": np.zeros(n, np.float32),
        "age_weights": np.array([decay ** a for a in range(history_length)], np.float32),
    }


# ---- the prequential protocol ----------------------------------------------------------------------

def prequential(model, events, catalogue, count_from, history_length, max_seen, k=10,
                online_popularity=False, log=None):
    """Replays `events` in order; for every event at position >= count_from,
    a hit when its item is in the top-k recommended to its user from the state
    before the event (what sluice emitted after the user's previous event; the
    popularity list for a user with none). Returns (hr, ndcg, hits, count)."""
    hits, dcg, count = 0, 0.0, 0
    counts = None
    if online_popularity:
        counts = np.zeros(len(catalogue), np.float64)
        for it in events.items[:count_from]:
            j = catalogue.index.get(it, -1)
            if j >= 0:
                counts[j] += 1
    for (pos, _, recents, seens, targets) in replay_states(events, catalogue, history_length,
                                                           max_seen, count_from=count_from):
        if online_popularity:
            # Sequential within the chunk: each event sees the counts before it.
            for r in range(len(pos)):
                s = torch.from_numpy(counts - np.arange(len(counts)) * 1e-7)[None, :].clone()
                top, _ = top_k(s, [seens[r]], k)
                t = targets[r]
                if t >= 0 and t in top[0]:
                    hits += 1
                    dcg += 1.0 / math.log2(list(top[0]).index(t) + 2)
                if t >= 0:
                    counts[t] += 1
            count += len(pos)
            continue
        with torch.no_grad():
            s = model.score(recents)
        top, _ = top_k(s, seens, k)
        for r, t in enumerate(targets):
            if t < 0:
                continue
            where = np.nonzero(top[r] == t)[0]
            if len(where):
                hits += 1
                dcg += 1.0 / math.log2(int(where[0]) + 2)
        count += len(pos)
        if log:
            log(f"    {count} events")
    return hits / max(count, 1), dcg / max(count, 1), hits, count


# ---- the model directory ---------------------------------------------------------------------------

def write_model_dir(out, catalogue, weights, history_length, max_seen, info, dtype="F32"):
    """config.json, model.safetensors and item_ids.json (index -> item id,
    JSON strings), as sluice's recommend operators load them. dtype: of the
    two embedding tables (the rest is F32)."""
    os.makedirs(out, exist_ok=True)
    n, d = weights["item_embeddings"].shape
    config = {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "format_version": FORMAT_VERSION,
        "num_items": n,
        "hidden_size": d,
        "history_length": history_length,
        "max_seen": max_seen,
        "item_ids_file": "item_ids.json",
        "torch_dtype": "float16" if dtype == "F16" else "float32",
    }
    config.update(info)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=False)
        f.write("\n")
    tensors = dict(weights)
    tensors["item_popularity"] = catalogue.counts.astype(np.float32)
    safetensors_io.write(os.path.join(out, "model.safetensors"), tensors,
                         dtype={"user_item_embeddings": dtype, "item_embeddings": dtype},
                         metadata={"format": "pt"})
    with open(os.path.join(out, "item_ids.json"), "w", encoding="utf-8") as f:
        json.dump(catalogue.ids, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def load_model_dir(path):
    """(config, weights, item ids) of a model directory written above."""
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    weights = safetensors_io.read(os.path.join(path, "model.safetensors"))
    with open(os.path.join(path, config.get("item_ids_file", "item_ids.json")), encoding="utf-8") as f:
        ids = json.load(f)
    return config, weights, ids
