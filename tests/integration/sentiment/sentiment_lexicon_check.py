"""The VADER lexicon terms the sentiment trainer's teacher can use
(tools/sentiment_lexicon.py): the npm peer's lexicon loads, hits carry their
rounded valence and sign, a negation flips the next three tokens, hashtags
and edge punctuation are looked through, a bad file is refused by name.
Exit 0 pass, 1 fail, 77 skip (the npm peers not installed)."""
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sentiment_lexicon as sl  # noqa: E402

if not os.path.exists(sl.DEFAULT_PATH):
    print(f"no lexicon at {sl.DEFAULT_PATH} (npm ci --ignore-scripts in tools/)")
    sys.exit(77)

lex = sl.load()
fails = []


def check(text, want):
    got = sl.terms(text, lex)
    if got != want:
        fails.append(f"{text!r}: got {got}, want {want}")


assert lex["love"] == 3.2 and lex[":)"] == 2.0, (lex.get("love"), lex.get(":)"))
check("I love it", ["lex:6", "lex:pos"])                       # 3.2 -> 6 half points
check("I don't love it", ["lex:-5", "lex:neg"])                 # -0.74 * 3.2 = -2.37
check("not bad, not bad at all!", ["lex:4", "lex:pos", "lex:4", "lex:pos", "lex:excl"])
check("never lol", ["lex:-3", "lex:neg"])                        # lol 1.8 (its last entry) flipped
check("never ever going there again lol", ["lex:4", "lex:pos"])  # lol is past the 3-token window
check("#love (great)", ["lex:6", "lex:pos", "lex:6", "lex:pos"])
check("the bus leaves at 9", ["lex:none"])
check("", ["lex:none"])


def refused(content, what, named):
    """A lexicon file holding `content` is refused with an error naming `named`."""
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "lex.txt")
        with open(bad, "w") as f:
            f.write(content)
        try:
            sl.load(bad)
            fails.append(f"{what} was accepted")
        except ValueError as e:
            if bad + named not in str(e):
                fails.append(f"the error does not name {bad + named}: {e}")


refused("good\tvery\n", "a non-numeric valence", ":1:")
refused("no tabs here\n", "a file without entries", ":")

for f in fails:
    print("FAIL", f)
print(f"{len(lex)} lexicon terms; {len(fails)} failures")
sys.exit(1 if fails else 0)
