#!/usr/bin/env python3
"""Generates sluice's Unicode tables (unicode_tables.inc) from the Unicode
Character Database that Debian's `unicode-data` package installs in
/usr/share/unicode. Run by the build (src/text/CMakeLists.txt); stdlib only.

Hugging Face `tokenizers` reads its per-character facts from three sources of
three Unicode versions, and exact compatibility means reproducing each:

  - BertNormalizer / BertPreTokenizer categories (Cc Cf Co, P*, Mn) come from
    the `unicode_categories` crate, whose tables are Unicode 8.0.0: we take the
    current category of every code point assigned by 8.0 (DerivedAge.txt).
  - NFD / NFC / NFKD / NFKC, combining classes and is_combining_mark come from
    `unicode-normalization-alignments` (Unicode 9.0.0): decompositions and
    combining classes of code points assigned by 9.0. Both are frozen by
    Unicode's stability policy, so the current file yields the 9.0 values.
  - Case mapping and White_Space come from Rust's std (current Unicode), the
    ByteLevel regex's \\p{L} \\p{N} from Oniguruma and \\w from Rust's regex
    crate (current Unicode): we use the installed version as is.

Output: a two-level table code point -> record {flags, ccc, lowercase delta},
sorted decomposition and composition tables, and multi-code-point lowercase
mappings (SpecialCasing.txt, unconditional entries).
"""
import argparse
import os
import sys

MAX_CP = 0x110000
BLOCK = 256

# Flag bits; keep in sync with src/text/unicode.h.
F_BERT_CONTROL = 1 << 0   # Cc | Cf | Co, Unicode 8.0
F_WHITE_SPACE = 1 << 1    # White_Space
F_BERT_PUNCT = 1 << 2     # ASCII punctuation or P*, Unicode 8.0
F_MN8 = 1 << 3            # Mn, Unicode 8.0
F_MARK9 = 1 << 4          # M*, Unicode 9.0
F_WORD = 1 << 5           # regex \w: Alphabetic | M | Nd | Pc | Join_Control
F_LETTER = 1 << 6         # L*
F_NUMBER = 1 << 7         # N*
F_CHINESE = 1 << 8        # HF's is_chinese_char ranges
F_CANON_DECOMP = 1 << 9   # has a canonical decomposition (9.0)
F_COMPAT_DECOMP = 1 << 10 # has a compatibility decomposition (9.0)
F_LOWER_MULTI = 1 << 11   # lowercases to several code points
F_ASSIGNED9 = 1 << 12     # assigned by Unicode 9.0

# HF tokenizers' BertNormalizer::is_chinese_char: a definition of HF's, not a
# Unicode property, so it is data copied from that function (note the gap
# 2B820..2B91F and the missing extensions F..I, as upstream).
HF_CHINESE_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def data_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def parse_range(text):
    if ".." in text:
        a, b = text.split("..")
        return int(a, 16), int(b, 16)
    return int(text, 16), int(text, 16)


def read_unicode_data(path):
    """gc, ccc, decomposition (tag, list) and simple lowercase per code point."""
    gc, ccc, decomp, lower = {}, {}, {}, {}
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                cps = range(first, cp + 1)
            else:
                cps = [cp]
            for c in cps:
                gc[c] = fields[2]
                ccc[c] = int(fields[3])
            if fields[5] and len(cps) == 1:
                parts = fields[5].split()
                tag = None
                if parts[0].startswith("<"):
                    tag, parts = parts[0], parts[1:]
                decomp[cp] = (tag, [int(p, 16) for p in parts])
            if fields[13] and len(cps) == 1:
                lower[cp] = int(fields[13], 16)
    return gc, ccc, decomp, lower


def read_age(path):
    age = {}
    for fields in data_lines(path):
        a, b = parse_range(fields[0])
        major, minor = (int(x) for x in fields[1].split("."))
        for c in range(a, b + 1):
            age[c] = (major, minor)
    return age


def read_property(path, name):
    out = set()
    for fields in data_lines(path):
        if fields[1] == name:
            a, b = parse_range(fields[0])
            out.update(range(a, b + 1))
    return out


def read_special_lower(path):
    """Unconditional SpecialCasing lowercase mappings longer than one code point."""
    out = {}
    for fields in data_lines(path):
        # code; lower; title; upper; (condition_list;)?
        if len(fields) > 4 and fields[4]:
            continue
        cp = int(fields[0], 16)
        low = [int(p, 16) for p in fields[1].split()]
        if len(low) > 1:
            out[cp] = low
    return out


def full_decomposition(cp, decomp, assigned9, compat):
    if cp not in decomp or cp not in assigned9:
        return [cp]
    tag, parts = decomp[cp]
    if tag is not None and not compat:
        return [cp]
    out = []
    for p in parts:
        out.extend(full_decomposition(p, decomp, assigned9, compat))
    return out


def emit_array(out, ctype, name, values, per_line=16):
    out.append(f"const {ctype} {name}[{len(values)}] = {{")
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(str(v) for v in values[i:i + per_line]) + ",")
    out.append("};")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ucd", default="/usr/share/unicode", help="folder of the UCD files")
    ap.add_argument("--out", required=True, help="output .inc file")
    args = ap.parse_args()

    def ucd(name):
        path = os.path.join(args.ucd, name)
        if not os.path.exists(path):
            sys.exit(f"gen_unicode_tables: {path} is missing (Debian package unicode-data)")
        return path

    gc, ccc, decomp, lower = read_unicode_data(ucd("UnicodeData.txt"))
    age = read_age(ucd("DerivedAge.txt"))
    white_space = read_property(ucd("PropList.txt"), "White_Space")
    join_control = read_property(ucd("PropList.txt"), "Join_Control")
    alphabetic = read_property(ucd("DerivedCoreProperties.txt"), "Alphabetic")
    comp_excl = read_property(ucd("DerivedNormalizationProps.txt"), "Full_Composition_Exclusion")
    special_lower = read_special_lower(ucd("SpecialCasing.txt"))

    assigned8 = {c for c, a in age.items() if a <= (8, 0)}
    assigned9 = {c for c, a in age.items() if a <= (9, 0)}

    def flags_of(cp):
        g = gc.get(cp, "Cn")
        f = 0
        if cp in assigned8:
            if g in ("Cc", "Cf", "Co"):
                f |= F_BERT_CONTROL
            if g.startswith("P"):
                f |= F_BERT_PUNCT
            if g == "Mn":
                f |= F_MN8
        if cp < 0x80 and chr(cp) in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
            f |= F_BERT_PUNCT
        if cp in assigned9:
            f |= F_ASSIGNED9
            if g.startswith("M"):
                f |= F_MARK9
        if cp in white_space:
            f |= F_WHITE_SPACE
        if cp in alphabetic or g.startswith("M") or g in ("Nd", "Pc") or cp in join_control:
            f |= F_WORD
        if g.startswith("L"):
            f |= F_LETTER
        if g.startswith("N"):
            f |= F_NUMBER
        if any(a <= cp <= b for a, b in HF_CHINESE_RANGES):
            f |= F_CHINESE
        if cp in assigned9 and cp in decomp:
            if decomp[cp][0] is None:
                f |= F_CANON_DECOMP | F_COMPAT_DECOMP
            else:
                f |= F_COMPAT_DECOMP
        if cp in special_lower:
            f |= F_LOWER_MULTI
        return f

    # Records and the two-level index.
    records, record_index = [], {}
    blocks, block_index = [], {}
    stage1 = []
    for base in range(0, MAX_CP, BLOCK):
        block = []
        for cp in range(base, base + BLOCK):
            c9 = ccc.get(cp, 0) if cp in assigned9 else 0
            delta = (lower[cp] - cp) if cp in lower else 0
            rec = (flags_of(cp), c9, delta)
            if rec not in record_index:
                record_index[rec] = len(records)
                records.append(rec)
            block.append(record_index[rec])
        key = tuple(block)
        if key not in block_index:
            block_index[key] = len(blocks)
            blocks.append(block)
        stage1.append(block_index[key])
    assert len(records) < 65536 and len(blocks) < 65536

    # Decompositions (full, recursive), 9.0 only; Hangul is algorithmic in C++.
    canon, compat = [], []
    for cp in sorted(decomp):
        if cp not in assigned9 or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        if decomp[cp][0] is None:
            canon.append((cp, full_decomposition(cp, decomp, assigned9, False)))
        compat.append((cp, full_decomposition(cp, decomp, assigned9, True)))

    longest = max(len(seq) for _, seq in compat)
    assert longest <= 18, f"kMaxDecomposition in unicode.h must be >= {longest}"

    # Primary composites: canonical pairs not excluded from composition.
    compose = []
    for cp in sorted(decomp):
        tag, parts = decomp[cp]
        if tag is None and len(parts) == 2 and cp in assigned9 and cp not in comp_excl:
            compose.append(((parts[0] << 21) | parts[1], cp))
    compose.sort()

    out = ["// Generated by src/text/gen_unicode_tables.py from the Unicode Character",
           "// Database in " + args.ucd + ". Do not edit.",
           "// clang-format off",
           f"static_assert(kUcdBlockShift == {BLOCK.bit_length() - 1}, \"regenerate the tables\");"]
    emit_array(out, "uint16_t", "kUcdStage1", stage1)
    emit_array(out, "uint16_t", "kUcdStage2", [r for b in blocks for r in b])
    out.append(f"const UcdRecord kUcdRecords[{len(records)}] = {{")
    for f, c, d in records:
        out.append(f"    {{{f}, {c}, {d}}},")
    out.append("};")

    def emit_decomp(name, table):
        pool, entries = [], []
        for cp, seq in table:
            entries.append(f"    {{{cp}, {len(pool)}, {len(seq)}}},")
            pool.extend(seq)
        emit_array(out, "char32_t", name + "Pool", pool)
        out.append(f"const UcdDecomposition {name}[{len(entries)}] = {{")
        out.extend(entries)
        out.append("};")

    emit_decomp("kUcdCanonical", canon)
    emit_decomp("kUcdCompat", compat)
    out.append(f"const UcdComposition kUcdCompositions[{len(compose)}] = {{")
    for key, cp in compose:
        out.append(f"    {{{key}ull, {cp}}},")
    out.append("};")
    pool, entries = [], []
    for cp in sorted(special_lower):
        entries.append(f"    {{{cp}, {len(pool)}, {len(special_lower[cp])}}},")
        pool.extend(special_lower[cp])
    emit_array(out, "char32_t", "kUcdLowerMultiPool", pool)
    out.append(f"const UcdDecomposition kUcdLowerMulti[{len(entries)}] = {{")
    out.extend(entries)
    out.append("};")

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
