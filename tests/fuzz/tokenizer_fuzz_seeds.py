"""Seeds for tokenizer_fuzz: one per tokenizer edge case (option byte 0 and 1:
both tokenizers), plus invalid UTF-8.  Usage: tokenizer_fuzz_seeds.py OUT_DIR"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
fixtures = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer"
for i, line in enumerate(open(fixtures / "edge_cases.jsonl", encoding="utf-8")):
    text = json.loads(line)["text"].encode("utf-8", "surrogatepass")
    for sel in (0, 1):
        (out / f"edge{i:03d}_{sel}").write_bytes(bytes([sel]) + text)
(out / "invalid").write_bytes(b"\x21ok \xff\xc3 bad \xed\xa0\x80 [SEP] <mask>")
