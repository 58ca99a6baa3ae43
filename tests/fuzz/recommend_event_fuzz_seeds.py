"""Seeds for recommend_event_fuzz: well-formed events (string and integer
ids, optional fields) and the hostile ones of recommend_event.h's contract
(wrong types, empty and over-long ids, fractional ids, huge numbers, deep
values, duplicate keys), each under both option bytes.
Usage: recommend_event_fuzz_seeds.py OUT_DIR"""
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
cases = {
    "plain": b'{"user":"u42","item":"318","ts":1465000000}',
    "ints": b'{"user":42,"item":318,"ts":1.5e9,"rating":4.5,"type":"view"}',
    "big_int": b'{"user":123456789012345678901234567890,"item":-7,"ts":0}',
    "escapes": b'{"user":"\\u00fc\\"x","item":"a\\/b","ts":1}',
    "dup": b'{"user":1,"user":2,"item":3,"item":[4],"ts":1,"ts":"x"}',
    "fraction": b'{"user":1.5,"item":3,"ts":1}',
    "exponent": b'{"user":1e3,"item":3,"ts":1}',
    "ts_range": b'{"user":1,"item":3,"ts":1e999}',
    "empty_id": b'{"user":"","item":3,"ts":1}',
    "long_id": b'{"user":"' + b"u" * 300 + b'","item":3,"ts":1}',
    "types": b'{"user":null,"item":true,"ts":[1],"rating":"5","type":7}',
    "deep": b'{"user":1,"item":2,"ts":3,"x":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "not_object": b'[{"user":1,"item":2,"ts":3}]',
    "truncated": b'{"user":1,"item":2,"ts":',
}
out.mkdir(parents=True, exist_ok=True)
for name, value in cases.items():
    for sel in (0, 1):
        (out / f"{name}_{sel}").write_bytes(bytes([sel]) + value)
