"""A Hugging Face BertForSequenceClassification checkpoint (config.json +
model.safetensors) as an inference-only PyTorch module — what the Python
sentiment service runs. Debian has neither `transformers` nor `safetensors`
for Python, so both the loader and the forward pass are here; the maths is
HF's (post-LayerNorm layers, erf GELU, additive attention mask, tanh pooler).

Inference-minded choices a PyTorch engineer would make: fp32 weights, Q/K/V
fused into one GEMM, `torch.inference_mode`, batches padded only to their
longest member, and weights-only modules (no dropout, no autograd state).
"""

import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
           "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}


def load_safetensors(path):
    """{name: float32 torch tensor}. BF16 is widened by hand (numpy lacks it)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            raw = np.frombuffer(body[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif info["dtype"] in _DTYPES:
            arr = np.frombuffer(body[b:e], dtype=_DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        out[name] = torch.from_numpy(arr.reshape(shape).astype(np.float32))
    return out


class BertClassifier(torch.nn.Module):
    def __init__(self, model_dir):
        super().__init__()
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        if cfg.get("model_type", "bert") != "bert":
            raise ValueError(f"{model_dir}: model_type {cfg.get('model_type')!r}, expected 'bert'")
        act = cfg.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"{model_dir}: hidden_act {act!r} not supported")
        self.heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.max_positions = cfg["max_position_embeddings"]
        id2label = cfg.get("id2label") or {str(i): f"LABEL_{i}" for i in range(cfg.get("num_labels", 2))}
        self.labels = [id2label[str(i)] for i in range(len(id2label))]

        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        g = lambda k: w[p + k]  # noqa: E731
        self.word = g("embeddings.word_embeddings.weight")
        self.pos = g("embeddings.position_embeddings.weight")
        self.type0 = g("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            L = f"encoder.layer.{i}."
            qkv_w = torch.cat([g(L + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
            qkv_b = torch.cat([g(L + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(dict(
                qkv=(qkv_w.contiguous(), qkv_b),
                attn_out=(g(L + "attention.output.dense.weight"), g(L + "attention.output.dense.bias")),
                ln1=(g(L + "attention.output.LayerNorm.weight"), g(L + "attention.output.LayerNorm.bias")),
                ffn_in=(g(L + "intermediate.dense.weight"), g(L + "intermediate.dense.bias")),
                ffn_out=(g(L + "output.dense.weight"), g(L + "output.dense.bias")),
                ln2=(g(L + "output.LayerNorm.weight"), g(L + "output.LayerNorm.bias")),
            ))
        self.pooler = (g("pooler.dense.weight"), g("pooler.dense.bias"))
        self.classifier = (w["classifier.weight"], w["classifier.bias"])

    def forward(self, ids, mask):
        """ids, mask: [batch, seq] int64 (mask 1 = token). Returns class probabilities."""
        b, s = ids.shape
        h, nh = self.hidden, self.heads
        hd = h // nh
        x = self.word[ids] + self.pos[:s] + self.type0
        x = F.layer_norm(x, (h,), *self.emb_ln, self.eps)
        add_mask = ((1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min)
        scale = 1.0 / math.sqrt(hd)
        for L in self.layers:
            qkv = F.linear(x, *L["qkv"]).view(b, s, 3, nh, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + add_mask, dim=-1)
            ctx = torch.matmul(att, v).transpose(1, 2).reshape(b, s, h)
            x = F.layer_norm(F.linear(ctx, *L["attn_out"]) + x, (h,), *L["ln1"], self.eps)
            y = F.linear(F.gelu(F.linear(x, *L["ffn_in"])), *L["ffn_out"])
            x = F.layer_norm(y + x, (h,), *L["ln2"], self.eps)
        pooled = torch.tanh(F.linear(x[:, 0], *self.pooler))
        return torch.softmax(F.linear(pooled, *self.classifier), dim=-1)
