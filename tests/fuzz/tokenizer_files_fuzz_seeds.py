"""Seeds for tokenizer_files_fuzz (byte 0: 0 tokenizer.json, 1 vocab.txt,
2 tokenizer_config.json NUL config.json, 3 vocab.json NUL merges.txt): the shipped WordPiece
and the fixture byte-level BPE tokenizers cut down to a few hundred tokens,
their legacy files, and the hostile cases of the hardening issue: a
20,000-character token, 100,000 nested Sequence normalizers (and
pre-tokenizers), post-processor ids outside 32 bits, an id leaving no
vocab_size, thousands of added tokens.  Usage: tokenizer_files_fuzz_seeds.py OUT_DIR"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parents[2]
shipped = root / "models" / "sentiment-sst2-small"
fixtures = root / "tests" / "fixtures" / "tokenizer"


def seed(name, kind, content):
    data = content.encode() if isinstance(content, str) else content
    (out / name).write_bytes(bytes([kind]) + data)


def dump(j):
    return json.dumps(j, ensure_ascii=False, separators=(",", ":"))


# WordPiece: the shipped tokenizer.json with its first 400 ids.
wp = json.loads((shipped / "tokenizer.json").read_text())
wp["model"]["vocab"] = {t: i for t, i in wp["model"]["vocab"].items() if i < 400}
seed("wordpiece", 0, dump(wp))

# Byte-level BPE: the fixture's first 300 merges and the tokens they need.
bpe = json.loads((fixtures / "sst2-bpe" / "tokenizer.json").read_text())
vocab = bpe["model"]["vocab"]
merges = bpe["model"]["merges"][:300]
keep = {t for t, i in vocab.items() if i < 260}  # the byte alphabet and specials
for left, right in (m if isinstance(m, list) else m.split(" ") for m in merges):
    keep |= {left, right, left + right}
bpe["model"]["vocab"] = {t: vocab[t] for t in keep if t in vocab}
bpe["model"]["merges"] = merges
seed("bpe", 0, dump(bpe))

# Legacy files.
vocab_txt = "\n".join(t for t, _ in sorted(wp["model"]["vocab"].items(), key=lambda e: e[1])) + "\n"
seed("vocab-txt", 1, vocab_txt)
seed("tokenizer-config", 2, (shipped / "tokenizer_config.json").read_text() + "\0"
     + (shipped / "config.json").read_text())
seed("tokenizer-config-cased", 2, dump({"do_lower_case": False, "strip_accents": None,
                                        "model_max_length": 1e30, "unk_token": "[UNK]",
                                        "mask_token": {"content": "[MASK]"}}))
legacy_vocab = json.loads((fixtures / "sst2-bpe-legacy" / "vocab.json").read_text())
legacy_vocab = {t: legacy_vocab[t] for t in bpe["model"]["vocab"] if t in legacy_vocab}
legacy_merges = "#version: 0.2\n" + "\n".join(
    (m if isinstance(m, str) else " ".join(m)) for m in merges) + "\n"
seed("vocab-json-merges", 3, dump(legacy_vocab) + "\0" + legacy_merges)

# Hostile.
long_token = json.loads(dump(wp))
long_token["model"]["vocab"]["a" * 20_000] = 400
seed("long-token", 0, dump(long_token))
seed("long-token-vocab-txt", 1, vocab_txt + "a" * 20_000 + "\n")
seed("long-special-token", 2, dump({"mask_token": "m" * 20_000}))
seed("config-json-roberta", 2, dump({"model_max_length": 1e30}) + "\0" + dump(
    {"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}))
seed("config-json-wrapping", 2, "{}\0" + dump({"model_type": "roberta",
                                               "max_position_embeddings": 2**32 + 5,
                                               "pad_token_id": 2**31 - 1}))
seed("config-wrong-types", 2, dump({"added_tokens_decoder": {"5": {"content": 5}}}) + "\0"
     + dump([1, 2]))
seed("config-wrong-bool", 2, dump({"do_lower_case": "yes"}))


def nested(base, key, list_key, leaf, depth):
    j = json.loads(dump(base))
    j[key] = "@NESTED@"
    value = ('{"type":"Sequence","%s":[' % list_key) * depth + leaf + "]}" * depth
    return dump(j).replace('"@NESTED@"', value)


seed("nested-normalizers", 0, nested(wp, "normalizer", "normalizers", '{"type":"Lowercase"}', 100_000))
seed("nested-pre-tokenizers", 0,
     nested(wp, "pre_tokenizer", "pretokenizers", '{"type":"Whitespace"}', 100_000))
seed("nested-20", 0, nested(wp, "normalizer", "normalizers", '{"type":"NFD"}', 20))
template_ids = json.loads(dump(wp))
template_ids["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [-1, 2**40]
seed("template-ids", 0, dump(template_ids))
long_truncation = json.loads(dump(wp))
long_truncation["truncation"] = {"max_length": 2_000_000_000, "direction": "Right"}
seed("truncation-2e9", 0, dump(long_truncation))
last_id = json.loads(dump(wp))
last_id["model"]["vocab"]["zz"] = 2**31 - 1
seed("id-int32-max", 0, dump(last_id))
many_added = json.loads(dump(wp))
many_added["added_tokens"] += [{"content": f"tok{i}", "special": i % 2 == 0} for i in range(2000)]
seed("many-added", 0, dump(many_added))
seed("negative-vocab-json", 3, dump(dict(legacy_vocab, zz=-5)) + "\0" + legacy_merges)
