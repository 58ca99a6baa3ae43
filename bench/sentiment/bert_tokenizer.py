"""BERT tokenization in plain Python (BertNormalizer + BertPreTokenizer +
WordPiece + [CLS] … [SEP]), with the same ids as Hugging Face `tokenizers`
for an uncased WordPiece `tokenizer.json` or `vocab.txt` — the tokenizer of the
Python sentiment service that sluice's pipeline is benchmarked against.

Written for speed the way one would in Python: normalization and splitting
are a few `str.translate` calls over lazily filled per-character tables (so
unicodedata is consulted once per distinct character, not per character of
every message), and a bounded per-word cache for WordPiece.
"""

import json
import re
import string
import unicodedata

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")

# Unicode White_Space (Rust's char::is_whitespace, which HF uses).
_WHITE_SPACE = frozenset([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                          0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))
_ASCII_PUNCT = frozenset(string.punctuation)
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


# str.translate tables filled lazily, one entry per distinct character seen:
# classifying a character costs a unicodedata lookup once, then a C-level
# table hit (str.translate calls __missing__ for characters not yet seen).
class _LazyTable(dict):
    def __init__(self, classify):
        super().__init__()
        self.classify = classify

    def __missing__(self, cp):
        v = self.classify(chr(cp))
        self[cp] = v
        return v


def _clean(ch):
    """BertNormalizer clean_text + handle_chinese_chars for one character."""
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD or _is_control(ch):
        return None
    if cp in _WHITE_SPACE:
        return " "
    if _is_cjk(cp):
        return " " + ch + " "
    return ch


_CLEAN = _LazyTable(_clean)
_STRIP_MN = _LazyTable(lambda ch: None if unicodedata.category(ch) == "Mn" else ch)
# BertPreTokenizer: punctuation characters are words of their own.
_SPLIT_PUNCT = _LazyTable(lambda ch: " " + ch + " " if _is_punctuation(ch) else ch)


def words_of(text):
    """Normalized words: clean, CJK spacing, strip accents (NFD, drop Mn),
    lowercase, then split on whitespace and around punctuation."""
    text = text.translate(_CLEAN)
    if not text.isascii():
        text = unicodedata.normalize("NFD", text).translate(_STRIP_MN)
    return [w for w in text.lower().translate(_SPLIT_PUNCT).split(" ") if w]


class BertTokenizer:
    def __init__(self, vocab, max_input_chars_per_word=100, prefix="##", cache_size=200_000):
        self.token_to_id = {t: i for i, t in enumerate(vocab)}
        for t in SPECIAL_TOKENS:
            if t not in self.token_to_id:
                raise ValueError(f"vocabulary lacks {t}")
        self.unk_id = self.token_to_id[UNK]
        self.cls_id = self.token_to_id[CLS]
        self.sep_id = self.token_to_id[SEP]
        self.pad_id = self.token_to_id[PAD]
        self.max_chars = max_input_chars_per_word
        self.prefix = prefix
        self.cache_size = cache_size
        self._cache = {}

    @classmethod
    def from_dir(cls, model_dir):
        """tokenizer.json (WordPiece) if present, else vocab.txt."""
        import os
        tj = os.path.join(model_dir, "tokenizer.json")
        if os.path.exists(tj):
            with open(tj, encoding="utf-8") as f:
                doc = json.load(f)
            model = doc["model"]
            if model.get("type") != "WordPiece":
                raise ValueError(f"{tj}: model.type {model.get('type')!r}, expected WordPiece")
            norm = doc.get("normalizer") or {}
            if not norm.get("lowercase", False):
                raise ValueError(f"{tj}: only uncased BERT tokenizers are supported")
            vocab = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
            return cls(vocab, model.get("max_input_chars_per_word", 100),
                       model.get("continuing_subword_prefix", "##"))
        with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f])

    def _word_ids(self, word):
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        if len(word) > self.max_chars:
            ids = (self.unk_id,)
        else:
            out, start, n = [], 0, len(word)
            vocab = self.token_to_id
            while start < n:
                end = n
                found = None
                while start < end:
                    piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                    found = vocab.get(piece)
                    if found is not None:
                        break
                    end -= 1
                if found is None:
                    out = [self.unk_id]
                    break
                out.append(found)
                start = end
            ids = tuple(out)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()  # cheap bound; a stream's vocabulary refills it quickly
        self._cache[word] = ids
        return ids

    def encode(self, text, max_length):
        """[CLS] ids [SEP], the text cut to max_length - 2 ids (HF truncation)."""
        if "[" in text and _SPECIAL_SPLIT.search(text):
            ids = []
            for part in _SPECIAL_SPLIT.split(text):
                if part in SPECIAL_TOKENS:
                    ids.append(self.token_to_id[part])
                else:
                    for w in words_of(part):
                        ids.extend(self._word_ids(w))
        else:
            get, miss = self._cache.get, self._word_ids
            ids = [i for w in words_of(text) for i in (get(w) or miss(w))]
        del ids[max_length - 2:]
        return [self.cls_id, *ids, self.sep_id]
