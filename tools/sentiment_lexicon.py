"""VADER's sentiment lexicon (Hutto & Gilbert, ICWSM 2014; 7,500 words,
emoticons and slang of social media, each rated by ten people) as features
for the TF-IDF teacher of tools/train_sentiment.py.

The lexicon comes with the npm package `vader-sentiment` (Apache-2.0), pinned
in tools/package.json beside the other npm peers (`npm ci --ignore-scripts`
in tools/). It knows the valence of words the 45k train tweets hardly show,
which is what SemEval's feature-based systems took from lexicons.

Terms of a text: for every lexicon hit its valence rounded to half points
(`lex:-8` .. `lex:8`, flipped and damped by 0.74 within three tokens after a
negation, as VADER does) and its sign (`lex:pos` / `lex:neg`), `lex:none`
when nothing matched, `lex:excl` when the text ends with `!`. They go into
the teacher's vocabulary like any n-gram (idf, L2 row norm)."""

import os
import re

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_modules",
                            "vader-sentiment", "vader_lexicon.txt")

_NEGATIONS = {"not", "no", "never", "nobody", "nothing", "neither", "nor", "none", "cannot",
              "without", "dont", "isnt", "didnt", "cant", "wont", "doesnt", "aint", "nope",
              "hardly"}
_EDGE = re.compile(r"^[\"'.,!?;:()\[\]]+|[\"'.,!?;:()\[\]]+$")
_MAX_ENTRIES = 1_000_000  # bounds what a file given with --teacher-lexicon can make us hold


def load(path=DEFAULT_PATH):
    """{term: mean valence} from VADER's tab-separated lexicon file (a term
    listed twice keeps its last valence, as VADER's own reader does).
    Raises OSError / ValueError naming the file when it cannot be used."""
    lex = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            try:
                lex[parts[0].lower()] = float(parts[1])
            except ValueError:
                raise ValueError(f"{path}:{n}: the second column is not a number") from None
            if len(lex) > _MAX_ENTRIES:
                raise ValueError(f"{path}: more than {_MAX_ENTRIES} entries")
    if not lex:
        raise ValueError(f"{path}: no entries (expected TERM<TAB>VALENCE lines)")
    return lex


def terms(text, lex):
    out = []
    flip = 0
    for raw in text.split():
        word = raw.lower()
        v = lex.get(word)
        if v is None:
            word = _EDGE.sub("", word)
            v = lex.get(word)
            if v is None and word.startswith("#"):
                v = lex.get(word[1:])
        if v is not None:
            if flip:
                v = -0.74 * v
            out.append(f"lex:{max(-8, min(8, round(v * 2)))}")
            out.append("lex:pos" if v > 0 else "lex:neg")
        if word.replace("'", "") in _NEGATIONS or word.endswith("n't"):
            flip = 3
        elif flip:
            flip -= 1
    if text.rstrip().endswith("!"):
        out.append("lex:excl")
    if "lex:pos" not in out and "lex:neg" not in out:
        out.append("lex:none")
    return out
