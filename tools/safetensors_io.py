"""Minimal safetensors reader/writer (Debian bookworm has no python3-safetensors).

Format: 8-byte little-endian header length N, N bytes of JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor data, tensors back to back.
"""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
       "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def float32_to_bf16_bits(a):
    """Round-to-nearest-even fp32 -> bf16, returned as uint16 bit patterns."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def bf16_bits_to_float32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def write(path, tensors, dtype="F32", metadata=None):
    """tensors: dict name -> float32 numpy array; stored as dtype (F32, F16 or
    BF16), or as dtype[name] when dtype is a dict (F32 for names it lacks)."""
    header = {}
    blobs = []
    offset = 0
    dtypes = dtype if isinstance(dtype, dict) else {}
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        dtype = dtypes.get(name, "F32") if dtypes else dtype
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = float32_to_bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(f"unsupported dtype {dtype}")
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata or {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # pad so the data starts 8-aligned, as HF does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns dict name -> float32 numpy array (F32/F16/BF16 converted)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin: base + end]
        dt = info["dtype"]
        if dt == "BF16":
            a = bf16_bits_to_float32(np.frombuffer(raw, dtype="<u2"))
        else:
            a = np.frombuffer(raw, dtype=np.dtype(_NP[dt]).newbyteorder("<"))
        out[name] = a.reshape(info["shape"]).astype(np.float32) if dt in ("F32", "F16", "BF16", "F64") \
            else a.reshape(info["shape"])
    return out
