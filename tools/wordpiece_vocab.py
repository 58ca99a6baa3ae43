"""BERT-style WordPiece tokenizer in plain Python: learns a vocabulary from a
corpus and encodes text into exactly the ids Hugging Face `tokenizers` produces
from the `tokenizer.json` this module writes.

Why it exists: the sentiment model is trained on ids from this module and served
by sluice's C++ tokenizer, which reproduces Hugging Face. Training ids must
therefore equal HF's ids; `tools/verify_sentiment_tokenizer.mjs` checks that on
all of SST-2 (train + dev) against the real HF library.

Pipeline (mirrors HF's BertNormalizer / BertPreTokenizer / WordPiece / template):
  normalize   clean_text (drop NUL, U+FFFD and Unicode "other" chars except
              \\t\\n\\r; map White_Space to ' '), pad CJK ideographs with spaces,
              strip accents (NFD, drop Mn) because lowercase is on and
              strip_accents is null, lowercase
  pre-split   on White_Space (dropped) and on punctuation (each its own word)
  WordPiece   greedy longest match, "##" continuation; a word longer than
              max_input_chars_per_word or with an unmatchable part -> [UNK]
  template    [CLS] $A [SEP]

Vocabulary learning follows HF's WordPieceTrainer (a BPE trainer with a "##"
continuation prefix): alphabet = every character seen (word-initial form and
"##" form), then repeatedly merge the most frequent adjacent pair.

Single-threaded, no global state; import-safe.
"""

import heapq
import json
import re
import string
import unicodedata
from collections import Counter, defaultdict

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = SPECIAL_TOKENS
CONTINUATION = "##"
MAX_INPUT_CHARS_PER_WORD = 100
# Splits raw text around literal special tokens, keeping them (capture group).
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")

# Unicode White_Space property (what Rust's char::is_whitespace tests).
_WHITE_SPACE = frozenset(
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
     0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))
_ASCII_PUNCT = frozenset(string.punctuation)
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
               (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF),
               (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_whitespace(ch):
    return ord(ch) in _WHITE_SPACE


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def normalize(text):
    """HF BertNormalizer{clean_text, handle_chinese_chars, strip_accents: null,
    lowercase: true}."""
    out = []
    for ch in text:
        if ch == "\0" or ch == "\ufffd" or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(ch):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text.lower()


def pre_tokenize(text):
    """HF BertPreTokenizer on already-normalized text: a list of words."""
    words, cur = [], []
    for ch in text:
        if _is_whitespace(ch):
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punctuation(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def words_of(text):
    return pre_tokenize(normalize(text))


class WordPieceTokenizer:
    """Encodes text to ids with a fixed vocabulary (list of tokens, id = index)."""

    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}
        if len(self.token_to_id) != len(self.vocab):
            raise ValueError("vocabulary has duplicate tokens")
        for t in SPECIAL_TOKENS:
            if t not in self.token_to_id:
                raise ValueError(f"vocabulary lacks special token {t}")
        self.unk_id = self.token_to_id[UNK]
        self.cls_id = self.token_to_id[CLS]
        self.sep_id = self.token_to_id[SEP]
        self.pad_id = self.token_to_id[PAD]
        self.mask_id = self.token_to_id[MASK]
        self._cache = {}

    @classmethod
    def from_vocab_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f])

    @classmethod
    def from_tokenizer_json(cls, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model.get("type") != "WordPiece":
            raise ValueError(f"{path}: model.type is {model.get('type')!r}, expected 'WordPiece'")
        by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise ValueError(f"{path}: model.vocab ids are not 0..n-1")
        return cls([t for t, _ in by_id])

    def word_ids(self, word):
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        if len(word) > MAX_INPUT_CHARS_PER_WORD:
            ids = [self.unk_id]
        else:
            ids, start = [], 0
            while start < len(word):
                end = len(word)
                found = None
                while start < end:
                    piece = word[start:end]
                    if start > 0:
                        piece = CONTINUATION + piece
                    found = self.token_to_id.get(piece)
                    if found is not None:
                        break
                    end -= 1
                if found is None:
                    ids = [self.unk_id]
                    break
                ids.append(found)
                start = end
        self._cache[word] = ids
        return ids

    def encode(self, text, max_length=None):
        """Ids of [CLS] text [SEP]; with max_length, the text part is cut so the
        whole sequence has at most max_length ids (HF longest_first truncation).
        Special tokens written literally in the text ("[SEP]") become their ids,
        as HF's added-token matching does, before normalization."""
        ids = []
        for part in _SPECIAL_SPLIT.split(text):
            if part in self.token_to_id and part in SPECIAL_TOKENS:
                ids.append(self.token_to_id[part])
                continue
            for w in words_of(part):
                ids.extend(self.word_ids(w))
        if max_length is not None:
            ids = ids[: max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]


def learn_vocab(texts, vocab_size, min_frequency=2):
    """Learns a WordPiece vocabulary (HF WordPieceTrainer semantics) of at most
    vocab_size tokens: specials, every character seen (plain and "##"), then
    BPE merges of the most frequent adjacent pair, ties broken by the pair's
    tokens so the result is deterministic."""
    word_counts = Counter()
    for t in texts:
        word_counts.update(words_of(t))
    words = sorted(word_counts)  # deterministic order
    counts = [word_counts[w] for w in words]
    seqs = [[w[0]] + [CONTINUATION + c for c in w[1:]] for w in words]

    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    alphabet = sorted({c for w in words for c in w})
    for c in alphabet:
        for tok in (c, CONTINUATION + c):
            if tok not in seen:
                seen.add(tok)
                vocab.append(tok)

    pair_count = defaultdict(int)
    pair_words = defaultdict(set)
    for wi, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += counts[wi]
            pair_words[(a, b)].add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)

    def merged_token(a, b):
        return a + (b[len(CONTINUATION):] if b.startswith(CONTINUATION) else b)

    while len(vocab) < vocab_size and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc:
            continue  # stale entry
        if -negc < min_frequency:
            break
        a, b = pair
        new = merged_token(a, b)
        if new not in seen:
            seen.add(new)
            vocab.append(new)
        changed = set()
        for wi in sorted(pair_words.pop(pair)):
            s = seqs[wi]
            c = counts[wi]
            for x, y in zip(s, s[1:]):
                pair_count[(x, y)] -= c
                changed.add((x, y))
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[wi] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += c
                pair_words[(x, y)].add(wi)
                changed.add((x, y))
        pair_count.pop(pair, None)
        for p in changed:
            n = pair_count.get(p, 0)
            if n <= 0:
                pair_count.pop(p, None)
                pair_words.pop(p, None)
            else:
                heapq.heappush(heap, (-n, p))
    return vocab


def _added_token(tok, i):
    return {"id": i, "content": tok, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}


def tokenizer_json(vocab):
    """The Hugging Face tokenizer.json document for a vocabulary (same structure
    as bert-base-uncased's)."""
    ids = {t: i for i, t in enumerate(vocab)}
    cls_id, sep_id = ids[CLS], ids[SEP]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_added_token(t, ids[t]) for t in sorted(SPECIAL_TOKENS, key=ids.get)],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None,
                       "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": CLS, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": SEP, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": CLS, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": SEP, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": SEP, "type_id": 1}}],
            "special_tokens": {
                CLS: {"id": CLS, "ids": [cls_id], "tokens": [CLS]},
                SEP: {"id": SEP, "ids": [sep_id], "tokens": [SEP]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": CONTINUATION, "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": UNK,
                  "continuing_subword_prefix": CONTINUATION,
                  "max_input_chars_per_word": MAX_INPUT_CHARS_PER_WORD,
                  "vocab": ids},
    }


def write_tokenizer_files(out_dir, vocab, model_max_length):
    """Writes vocab.txt, tokenizer.json, tokenizer_config.json and
    special_tokens_map.json into out_dir (which must exist)."""
    import os
    ids = {t: i for i, t in enumerate(vocab)}
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for t in vocab:
            f.write(t + "\n")
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab), f, ensure_ascii=False, indent=2)
        f.write("\n")
    config = {
        "added_tokens_decoder": {
            str(ids[t]): {k: v for k, v in _added_token(t, ids[t]).items() if k != "id"}
            for t in sorted(SPECIAL_TOKENS, key=ids.get)
        },
        "clean_up_tokenization_spaces": True,
        "cls_token": CLS,
        "do_basic_tokenize": True,
        "do_lower_case": True,
        "mask_token": MASK,
        "model_max_length": model_max_length,
        "never_split": None,
        "pad_token": PAD,
        "sep_token": SEP,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
        "unk_token": UNK,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"cls_token": CLS, "mask_token": MASK, "pad_token": PAD,
                   "sep_token": SEP, "unk_token": UNK}, f, indent=2)
        f.write("\n")


def _main(argv):
    """`encode TOKENIZER_JSON`: reads one text per stdin line, writes one JSON
    list of ids (with [CLS]/[SEP]) per stdout line; used by the HF cross-check."""
    import sys
    if len(argv) != 3 or argv[1] != "encode":
        sys.stderr.write("usage: wordpiece_vocab.py encode TOKENIZER_JSON < texts > ids.jsonl\n")
        return 2
    tok = WordPieceTokenizer.from_tokenizer_json(argv[2])
    stdin = open(sys.stdin.fileno(), encoding="utf-8", newline="\n")
    out = sys.stdout
    for line in stdin:
        out.write(json.dumps(tok.encode(line.rstrip("\n"))) + "\n")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv))
