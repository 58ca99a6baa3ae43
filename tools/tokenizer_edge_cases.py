#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/edge_cases.jsonl: hand-picked texts where
tokenizers tend to disagree (accents, CJK, emoji and ZWJ sequences, control
characters, U+FFFD, very long words, punctuation runs, every Unicode
whitespace, RTL text, combining marks, special tokens written in the text).
One JSON object per line: {"case": name, "text": text}. Non-printing
characters are written as \\u escapes so the file stays readable and diffable.

    /usr/bin/python3 tools/tokenizer_edge_cases.py   (then re-run the goldens)
"""
import json
import os
import unicodedata

CASES = []


def case(name, text):
    CASES.append((name, text))


# Basics.
case("basic/empty", "")
case("basic/space", " ")
case("basic/hello", "hello world")
case("basic/mixed-case", "Hello, World! HELLO wOrLd")
case("basic/sentence", "The quick brown fox jumps over the lazy dog.")
case("basic/unknown-words", "zzzzqx qqqqq xkcdxkcd")

# Accents, case mapping, NFD ordering.
for name, text in [
    ("cafe", "café Café CAFÉ"), ("naive", "naïve coöperate"), ("creme", "Crème Brûlée"),
    ("combining-acute", "cafe\u0301"), ("angstrom", "Ångström \u212b"), ("dotted-I", "İstanbul"),
    ("sharp-s", "ß straße \u1e9e"), ("greek-final-sigma", "ΟΔΟΣ οδος Σίσυφος"),
    ("cyrillic", "Привет, мир!"), ("turkish", "Ş ş Ğ ğ ı I"), ("vietnamese", "Tiếng Việt có dấu"),
    ("kelvin", "\u212a kelvin"), ("titlecase-dz", "\u01c5 \u01c4 \u01c6"),
    ("cherokee", "\u13a0\u13a1 \uab70"), ("georgian-mtavruli", "\u1c90\u1c91 \u10d0"),
    ("reorder-1", "a\u0323\u0307"), ("reorder-2", "a\u0307\u0323"),
    ("reorder-kept-nonstarters", "\u05d0\u05b0\u05b4 \u0915\u093c\u094d"),
    ("many-marks", "a\u0300\u0301\u0302\u0303\u0304"),
    ("zalgo", "Z\u0324\u0354\u0367\u0311\u0313a\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035a\u031ao"),
    ("marks-after-8.0", "a\u0d3b b\u1dfb c\U0001e944 d\u08d4"),
    ("variation-selectors", "\u2764\ufe0f \u2764\ufe0e \u845b\U000e0100"),
]:
    case("accents/" + name, text)

# Scripts: CJK, Hangul, RTL, Indic, Thai.
for name, text in [
    ("chinese", "中文测试，你好！"), ("japanese", "日本語のテキストとカタカナ"),
    ("mixed-cjk-latin", "汉字mixed英文text"), ("cjk-ext-b", "\U00020000\U0002a6d6"),
    ("cjk-ext-e-gap", "\U0002b820\U0002b91f\U0002b920"), ("cjk-ext-f", "\U0002ceb0"),
    ("cjk-compat", "\uf900\ufa0e\U0002f800"), ("ideographic-zero", "〇一二"),
    ("hangul", "한국어 텍스트"), ("hangul-jamo", "\u1100\u1161\u11a8"),
    ("arabic", "مرحبا بالعالم"), ("arabic-diacritics", "مُحَمَّد"), ("hebrew", "שלום עולם"),
    ("arabic-digits", "العربية ١٢٣ ٣٤٥"), ("rtl-override", "abc\u202edef\u202cghi"),
    ("bidi-isolates", "a\u2066b\u2069c \u061c"), ("devanagari", "नमस्ते दुनिया"),
    ("thai", "สวัสดีชาวโลก"), ("ligature", "ﬁnancial ﬂow"), ("fullwidth", "ＡＢＣ１２３！"),
    ("letterlike", "ℌ ℍ Ⅻ ① ㍿"), ("arabic-ligature", "\ufdfa"),
]:
    case("scripts/" + name, text)

# Emoji, including ZWJ sequences, skin tones, flags, keycaps, newer emoji.
for name, text in [
    ("smiley", "🙂"), ("skin-tone", "👍🏽 👍🏿"), ("family-zwj", "👨‍👩‍👧‍👦"),
    ("rainbow-flag", "🏳️‍🌈"), ("heart-vs16", "❤️"), ("flag", "🇺🇸🇫🇷"), ("keycap", "1️⃣ #️⃣"),
    ("unicode-11", "🥺"), ("unicode-14", "🫠"), ("in-text", "I ❤️ NY 🗽!"),
    ("tweet", "@user I love this!!! 😍😍 #blessed http://t.co/xyz"),
    ("repeated", "😂😂😂😂😂😂😂😂"), ("text-and-emoji", "great😀job"),
]:
    case("emoji/" + name, text)

# Control and format characters, U+FFFD, private use, unassigned.
for name, text in [
    ("nul", "a\u0000b"), ("soh", "a\u0001b"), ("del", "a\u007fb"), ("nel", "a\u0085b"),
    ("vt", "a\u000bb"), ("ff", "a\u000cb"), ("tab", "tab\there"), ("newline", "new\nline"),
    ("cr", "cr\rhere"), ("crlf", "line\r\nbreak"), ("zwsp", "zero\u200bwidth"), ("zwsp-alone", "\u200b"),
    ("soft-hyphen", "soft\u00adhyphen"), ("bom", "\ufeffbom\ufeffhere"), ("zwj", "a\u200db"),
    ("zwnj", "a\u200cb"), ("word-joiner", "a\u2060b"), ("mongolian-vs", "a\u180eb"),
    ("tag-chars", "a\U000e0041\U000e007fb"), ("c1-controls", "a\u0080\u0090\u009fb"),
    ("fffd", "bad\ufffdchar"), ("fffd-alone", "\ufffd"), ("fffd-run", "\ufffd\ufffd x \ufffd"),
    ("private-use", "a\ue000b\ue123c\uf8ffd"), ("private-use-plane15", "x\U000f0001y\U0010fffdz"),
    ("unassigned", "a\u0378b\u0380c"), ("noncharacter", "a\ufdd0b\uffffc"),
]:
    case("control/" + name, text)

# Every White_Space character between two words, and look-alikes that are not.
for cp in [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + [
        0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x180E, 0x200B, 0xFEFF]:
    case(f"whitespace/U+{cp:04X}", f"a{chr(cp)}b")
for name, text in [
    ("double-space", "a  b"), ("triple-space", "a   b"), ("leading", "  leading"),
    ("trailing", "trailing  "), ("space-newline-space", "a \n b"), ("only-blank", " \t \n "),
    ("tabs", "a\t\tb"), ("ideographic-run", "a\u3000\u3000b"), ("nbsp-before-word", "x \u00a0word"),
    ("mixed-run", "a \t\u00a0\u2003 b"),
]:
    case("whitespace/" + name, text)

# Punctuation and symbols.
for name, text in [
    ("runs", "!!!???... ?!?!"), ("ellipsis", "wait... what…"), ("dashes", "a-b – c — d ‐ e"),
    ("quotes", "“quoted” ‘single’ «guillemets» „low“"), ("spanish", "¿Qué? ¡Hola!"),
    ("ascii-symbols", "a+b=c <d> e^f `g` h|i ~j $k"), ("money", "$100.00 €50 £3 ¥1000 50%"),
    ("hashtag-mention", "#hashtag @user_name"), ("url", "http://example.com/path?q=1&r=2#frag"),
    ("email", "someone@example.com"), ("heart", "<3 </3"), ("shrug", "¯\\_(ツ)_/¯"),
    ("daggers", "†‡ §¶ ©®™"), ("fractions", "½ ¼ x² H₂O"), ("math", "≠ ≤ ≥ ≮ ∑ ∞"),
    ("post-8.0-punct", "a\u2e43b \U0001e95e"), ("two-em-dash", "a⸺b⸻c"), ("cjk-punct", "、。・「」"),
    ("underscore-run", "__init__ snake_case"), ("apostrophes", "rock'n'roll ' '' '''"),
    ("brackets", "[CLS-like] (parens) {braces}"),
]:
    case("punct/" + name, text)

# GPT-2 contractions and numbers.
for name, text in [
    ("lower", "I'm can't won't you're we've he'll she'd it's"), ("upper", "I'M DON'T WE'LL"),
    ("curly", "it’s don’t"), ("possessive-end", "the dogs' bowl 's"),
    ("digits", "123456789 3.14159 1,000,000"), ("number-word", "2nd 3rd 4th 1990s"),
    ("roman", "Ⅳ Ⅸ"), ("phone", "+1 (555) 123-4567"),
]:
    case("gpt2/" + name, text)

# Added / special tokens written in the text.
for name, text in [
    ("bert-specials", "[CLS] hi [SEP]"), ("bert-mask", "x[MASK]y [MASK]"), ("bert-lowercase", "[cls] [Sep]"),
    ("bert-pad-unk", "[PAD][UNK]"), ("roberta-specials", "<s>hello</s>"), ("roberta-mask", "a <mask> b"),
    ("roberta-mask-glued", "a<mask>b"), ("roberta-mask-spaces", "a   <mask>   b"),
    ("roberta-pad-unk", "<pad><unk> </s><s>"), ("partial", "[CL <mas"),
]:
    case("special/" + name, text)

# Very long words and long texts.
case("long/100-a", "a" * 100)
case("long/101-a", "a" * 101)
case("long/101-e-acute", "é" * 101)
case("long/60-e-combining", "e\u0301" * 60)
case("long/english", "supercalifragilisticexpialidocious antidisestablishmentarianism")
case("long/german", "Donaudampfschifffahrtsgesellschaftskapitän")
case("long/url", "https://example.com/" + "abcdefghij" * 15)
case("long/emoji-run", "😀" * 120)
case("long/paragraph", " ".join(["The film is a charming and often affecting journey, but it drags."] * 60))
case("long/no-spaces-cjk", "中文" * 300)


def escape(text):
    out = []
    for ch in json.dumps(text, ensure_ascii=False)[1:-1]:
        cat = unicodedata.category(ch)
        if ch != " " and (cat[0] in "CZ" or cat in ("Mn", "Me")):
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
            else:
                out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "tokenizer", "edge_cases.jsonl")
    names = [n for n, _ in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    with open(path, "w", encoding="utf-8") as f:
        for name, text in CASES:
            line = '{"case": ' + json.dumps(name) + ', "text": ' + escape(text) + "}"
            assert json.loads(line)["text"] == text
            f.write(line + "\n")
    print(f"wrote {len(CASES)} cases to {path}")


if __name__ == "__main__":
    main()
