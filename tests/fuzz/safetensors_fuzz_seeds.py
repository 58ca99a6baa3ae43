"""Seeds for safetensors_fuzz: well-formed small files (every float dtype,
metadata, the shipped model's real header), and the hostile cases of the
hardening issue: shapes whose element or byte count wraps around 64 bits,
a tensor named twice, nesting no header has, header lengths past the file,
overlaps, gaps and trailing bytes.  Usage: safetensors_fuzz_seeds.py OUT_DIR"""
import json
import pathlib
import struct
import sys

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parents[2]


def st(header, data=b"", header_len=None):
    text = header if isinstance(header, (bytes, str)) else json.dumps(header, separators=(",", ":"))
    if isinstance(text, str):
        text = text.encode()
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def seed(name, content):
    (out / name).write_bytes(content)


f32 = struct.pack("<4f", 1.0, -2.5, 3.0, 0.5)
f16 = struct.pack("<4H", 0x3C00, 0xC100, 0x7BFF, 0x0001)
bf16 = struct.pack("<2H", 0x3F80, 0xC020)
seed("good", st({
    "__metadata__": {"format": "pt"},
    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "h": {"dtype": "F16", "shape": [4], "data_offsets": [16, 24]},
    "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
    "i": {"dtype": "I64", "shape": [1], "data_offsets": [28, 36]},
    "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [36, 36]},
}, f32 + f16 + bf16 + b"\0" * 8))
seed("scalar", st({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, f32[:4]))
seed("empty", st({}))

# The shipped model's real header, its data cut short: a realistic header
# that exercises every check up to "past the end of the data region".
shipped = (root / "models" / "sentiment-sst2-small" / "model.safetensors").read_bytes()
n = struct.unpack("<Q", shipped[:8])[0]
seed("shipped-header", shipped[: 8 + n] + b"\0" * 64)

# Element count wraps: (2^56 + 2) x 256 = 2^64 + 512 -> 512 elements, 2048 bytes of F32.
seed("overflow-elements", st({"w": {"dtype": "F32", "shape": [2**56 + 2, 256],
                                    "data_offsets": [0, 2048]}}, b"\0" * 2048))
# Byte count wraps: 2^62 F32 elements = 2^64 bytes -> 0.
seed("overflow-bytes", st({"w": {"dtype": "F32", "shape": [2**62], "data_offsets": [0, 0]}}))
seed("overflow-f16", st({"w": {"dtype": "F16", "shape": [2**55 + 2, 256],
                               "data_offsets": [0, 1024]}}, b"\0" * 1024))
seed("dim-beyond-int64", st('{"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}}',
                            f32[:4]))
seed("negative-dim", st('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', f32[:4]))
seed("named-twice", st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                       '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32[:8]))
seed("deep", st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":'
                + "[" * 100_000 + "]" * 100_000 + "}}", f32[:4]))
seed("header-past-end", st('{"a":1}', header_len=1 << 20))
seed("header-huge", st('{}', header_len=2**63))
seed("overlap", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, f32[:12]))
seed("gap", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, f32[:12]))
seed("trailing", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, f32[:8]))
seed("offsets-backwards", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, f32[:4]))
seed("unknown-dtype", st({"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}, f32[:4]))
seed("short", b"\x05\0\0")
