"""TweetEval sentiment data for training and evaluation: reading the split
files, cleaning the train text so it looks like the stream sluice serves,
the held-out part of train used for model selection, and the emoji tables.

Why clean train and not the stream: the older SemEval train tweets carry
literal escape sequences (`\\u2019`, `\\u002c`) and HTML entities (`&amp;`)
that real tweets, the test split and a live stream do not have
(../shared/data/SOURCES.md). Decoding them makes train look like what the
model will see; nothing is changed at serving time, so sluice's tokenizer
stays a plain Hugging Face `tokenizer.json`.

Emoji: the train split has none, the test split and real streams have many.
`emoji_table()` lists the emoji code points and the words of their Unicode
names (`unicodedata.name`: U+1F602 FACE WITH TEARS OF JOY -> tears, joy);
the trainer adds each emoji to the vocabulary, starts its embedding from its
name words and teaches it by swapping name words for emoji in train tweets.

Import-safe, no global state, standard library only.
"""

import html
import os
import random
import re
import unicodedata

LABELS = ["negative", "neutral", "positive"]  # mapping.txt: 0 negative, 1 neutral, 2 positive

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

# Code-point blocks holding the emoji in common use (Unicode 14 as Debian's
# Python knows it): Misc Symbols, Dingbats, regional indicators (flags are
# pairs of them), Misc Symbols and Pictographs (with the skin-tone
# modifiers), Emoticons, Transport and Map, Supplemental Symbols and
# Pictographs, Symbols and Pictographs Extended-A.
_EMOJI_BLOCKS = ((0x2600, 0x27BF), (0x1F1E6, 0x1F1FF), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF),
                 (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF))
# Name words that say nothing about the picture's meaning.
_NAME_STOPWORDS = frozenset(
    "a an and of with the in on for sign symbol black white heavy light face "
    "open mouth type modifier squared negative circled large small medium emoji "
    "fitzpatrick 1 2 3 4 5 6".split())


def read_split(data_dir, split):
    """(texts, labels) of `split` ("train" or "test"): `<split>_text.txt` and
    `<split>_labels.txt`, one per line, labels 0/1/2 as in mapping.txt. Texts
    keep their trailing whitespace trimmed (upstream test lines end in a space)."""
    with open(os.path.join(data_dir, f"{split}_text.txt"), encoding="utf-8", newline="\n") as f:
        texts = [line.rstrip("\n").strip() for line in f]
    with open(os.path.join(data_dir, f"{split}_labels.txt"), encoding="utf-8") as f:
        labels = [int(line) for line in f if line.strip()]
    if texts and texts[-1] == "" and len(texts) == len(labels) + 1:
        texts.pop()
    if len(texts) != len(labels):
        raise ValueError(f"{data_dir}: {split} has {len(texts)} texts and {len(labels)} labels")
    if any(label not in (0, 1, 2) for label in labels):
        raise ValueError(f"{data_dir}: {split} labels must be 0, 1 or 2")
    return texts, labels


def read_mapping(data_dir):
    """mapping.txt as a list of names by id; must equal LABELS."""
    with open(os.path.join(data_dir, "mapping.txt"), encoding="utf-8") as f:
        names = [line.split("\t")[1].strip() for line in f if line.strip()]
    if names != LABELS:
        raise ValueError(f"{data_dir}/mapping.txt: labels are {names}, expected {LABELS}")
    return names


def _decode_escapes(text):
    # UTF-16 escapes: a surrogate pair is two escapes that make one character.
    units = []
    out = []
    pos = 0
    for m in _ESCAPE.finditer(text):
        if m.start() != pos:
            if units:
                out.append(bytes(units).decode("utf-16-le", errors="replace"))
                units = []
            out.append(text[pos:m.start()])
        cp = int(m.group(1), 16)
        units += [cp & 0xFF, cp >> 8]
        pos = m.end()
    if units:
        out.append(bytes(units).decode("utf-16-le", errors="replace"))
    out.append(text[pos:])
    return "".join(out)


def clean_train_text(text):
    """Train tweet as the stream would carry it: `\\uXXXX` escapes and HTML
    entities decoded (twice: some SemEval tweets are escaped twice, `&amp;amp;`)."""
    if "\\u" in text:
        text = _decode_escapes(text)
    if "&" in text:
        text = html.unescape(html.unescape(text))
    return text


def holdout_split(labels, fraction, seed):
    """Stratified split of train indices: (fit, held_out), each sorted. The
    held-out part picks epochs, seeds and class biases; the test split is
    never used for any choice."""
    rng = random.Random(seed)
    fit, held = [], []
    for c in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(idx)
        k = round(len(idx) * fraction)
        held += idx[:k]
        fit += idx[k:]
    return sorted(fit), sorted(held)


def emoji_table():
    """[(emoji char, [name words])] for every assigned pictographic symbol
    (category So) and modifier (Sk: skin tones) in the emoji blocks, in
    code-point order. Name words may be empty (modifiers, flag letters)."""
    table = []
    for lo, hi in _EMOJI_BLOCKS:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if unicodedata.category(ch) not in ("So", "Sk"):
                continue
            name = unicodedata.name(ch, "")
            if not name:
                continue
            if name.startswith("REGIONAL INDICATOR"):
                table.append((ch, []))  # a flag's letter, not a word
                continue
            words = [w for w in re.split(r"[\s\-]+", name.lower()) if w and w not in _NAME_STOPWORDS]
            table.append((ch, words))
    return table


def macro_recall(gold, pred, n_classes=3):
    """TweetEval's official sentiment metric: the mean over classes of recall."""
    recalls = per_class_recall(gold, pred, n_classes)
    return sum(recalls) / n_classes


def per_class_recall(gold, pred, n_classes=3):
    hit = [0] * n_classes
    tot = [0] * n_classes
    for g, p in zip(gold, pred):
        tot[g] += 1
        hit[g] += int(g == p)
    return [h / t if t else 0.0 for h, t in zip(hit, tot)]


def polar_accuracy(gold, probs):
    """On the negative and positive tweets only: the share where the gold
    polarity gets more probability than the opposite one (neutral ignored),
    the measure a binary negative/positive model is judged by."""
    n = ok = 0
    for g, p in zip(gold, probs):
        if g == 1:
            continue
        n += 1
        ok += int((p[0] > p[2]) == (g == 0))
    return ok / n if n else 0.0
