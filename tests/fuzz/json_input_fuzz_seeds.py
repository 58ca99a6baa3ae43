"""Seeds for json_input_fuzz: the hostile records of the hardening issue
(70,000-deep arrays, 50,000-deep objects, numbers outside double range,
object and array ids, invalid UTF-8) and the limits around them, each under
a few option bytes (byte 0: bit 0 replace policy, bit 1 id/key/group fields,
bit 2 text at review.text, bit 3 max_record_bytes 4096). The ctest run
fuzzes with -max_len=8192 (executions on 140 KB inputs are ~30x slower), which
truncates the full-size cases; `run_fuzz.sh BUILD json_input_fuzz SECONDS`
by hand (no -max_len) fuzzes them whole.
Usage: json_input_fuzz_seeds.py OUT_DIR"""
import pathlib
import sys

out = pathlib.Path(sys.argv[1])


def nested_arrays(n, inner=b"1"):
    return b"[" * n + inner + b"]" * n


def nested_objects(n, inner=b"1"):
    return b'{"a":' * n + inner + b"}" * n


cases = {
    "plain": b'{"id":1,"text":"great phone","key":"k","g":{"name":"acme"}}',
    "review": b'{"review":{"title":"t","text":"works \\u00e9 well"},"id":"a\\/b"}',
    "deep_arrays_70000": b'{"text":"ok","x":' + nested_arrays(70000) + b"}",
    "deep_objects_50000": b'{"text":"ok","x":' + nested_objects(50000) + b"}",
    # Within the ctest run's -max_len (8 KB), which truncates the cases above.
    "deep_arrays_3000": b'{"text":"ok","x":' + nested_arrays(3000) + b"}",
    "deep_objects_1100": b'{"x":' + nested_objects(1100) + b',"text":"ok"}',
    "root_deep_arrays": nested_arrays(70000),
    "root_deep_objects": nested_objects(50000),
    "unbalanced_arrays": b"[" * 70000,
    "depth_1023": b'{"text":"ok","x":' + nested_arrays(1022) + b"}",
    "depth_1024": b'{"text":"ok","x":' + nested_arrays(1023) + b"}",
    "depth_1024_empty": b'{"text":"ok","x":' + b"[" * 1023 + b"]" * 1023 + b"}",
    "deep_in_string": b'{"text":"' + b"[" * 5000 + b'"}',
    "huge_numbers": b'{"id":1e400,"n":-1e999,"big":' + b"9" * 400
    + b',"tiny":1e-400,"a":[1E+400,-0.0e-0],"text":"fine"}',
    "bad_numbers": b'{"text":"fine","n":[01,-,1.,.5,1e,+1,0x10,-Infinity,NaN]}',
    "object_id": b'{"id":{"a":1},"key":[1,2],"g":{"name":{}},"text":"fine"}',
    "array_text": b'{"text":["a"],"review":{"text":{"x":"y"}}}',
    "invalid_utf8": b'{"text":"caf\xe9 \xed\xa0\x80 \xf4\x90\x80\x80","id":"\xc0\xaf"}',
    "invalid_utf8_key": b'{"te\xffxt":"a","text":"b"}',
    "escaped_key": b'{"te\\u0078t":"escaped key","text":"second"}',
    "duplicates": b'{"text":"first","text":"second","id":1,"id":{"x":2}}',
    "trailing": b'{"text":"a"} {"text":"b"}',
    "control_char": b'{"text":"a\x01b"}',
    "empty_text": b'{"text":""}',
    "null_fields": b'{"text":"a","id":null,"key":null,"g":null}',
    "scalars": b'"just a string"',
    "mismatched": b'{"text":"a","x":[1,2}]',
}
for name, value in cases.items():
    # The 140 KB cases under two option bytes only: each costs a
    # millisecond or two per run, and libFuzzer picks seeds uniformly.
    for sel in (0, 3) if len(value) > 10000 else (0, 1, 2, 4, 8, 3):
        (out / f"{name}_{sel}").write_bytes(bytes([sel]) + value)
