#!/usr/bin/python3
"""Calibrates the whole-model tolerances of tests/gpu/cuda_backend_test.cpp
without a GPU: runs the CUDA backend's forward in PyTorch (CPU, fp32
arithmetic) with every value rounded to fp16 or bf16 exactly where the CUDA
kernels store 16-bit values (weights, GEMM outputs, LayerNorm outputs, Q/K/V
plus bias, softmax probabilities before P·V, the FFN activation, the head),
and compares its logits and pooled vectors with the fp32 reference forward
(tools/reference_forward.py) on random models of the test's shapes.

  /usr/bin/python3 tests/gpu/emulate_rounding.py [--batches 20]

Prints, per model and dtype, the largest relative L2 and max-abs error seen
over the batches: the test's tolerances must sit comfortably above them.
"""
import argparse
import math
import os
import random
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from reference_forward import Reference, pad_batch  # noqa: E402

# name, make_random_model.py arguments (the shapes of cuda_backend_test.cpp's models)
MODELS = [
    ("bert-d16", "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 300 --labels 3"),
    ("bert-d64", "--arch bert --layers 3 --hidden 256 --heads 4 --intermediate 1024 --vocab 500 --labels 5"),
    ("distilbert-d16", "--arch distilbert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 300 --labels 2"),
    ("roberta-d32", "--arch roberta --layers 2 --hidden 128 --heads 4 --intermediate 256 --vocab 300 --labels 3"),
    ("bert-d24-tanh", "--arch bert --layers 2 --hidden 96 --heads 4 --intermediate 192 --vocab 300 --labels 3 --act gelu_new"),
    ("bert-base", "--arch bert --layers 12 --hidden 768 --heads 12 --intermediate 3072 --vocab 30522 --labels 3"),
]
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class Emulated:
    """The CUDA backend's forward over a packed batch, one sequence at a time."""

    def __init__(self, ref, dt):
        self.r, self.dt = ref, dt

    def q(self, x):  # round to the 16-bit storage type
        return x.to(self.dt).to(torch.float32)

    def w(self, name):
        return self.q(self.r.p(name + ".weight"))

    def b(self, name):
        return self.r.p(name + ".bias")

    def ln(self, x, name):
        return self.q(F.layer_norm(x, (self.r.hidden,), self.r.p(name + ".weight"), self.r.p(name + ".bias"), self.r.eps))

    def gemm(self, x, name):  # fp32 accumulation of rounded operands, rounded output, no bias
        return self.q(x @ self.w(name).T)

    def attention(self, x, names, first_only):
        r = self.r
        d, h = r.hidden, r.heads
        dh = d // h
        L = x.shape[0]
        q, k, v = [self.q(self.gemm(x, n) + self.b(n)).view(L, h, dh).transpose(0, 1) for n in names]
        s = (q @ k.transpose(1, 2)) / math.sqrt(dh)
        if first_only:
            s = s[:, :1]
        m = s.max(dim=-1, keepdim=True).values
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        out = (self.q(p) @ v) / l
        return self.q(out.transpose(0, 1).reshape(out.shape[1], d))

    def act(self, x):
        a = self.r.act
        if a == "gelu":
            return F.gelu(x)
        if a in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            return F.gelu(x, approximate="tanh")
        return F.relu(x)

    def forward(self, ids):
        r = self.r
        e = r.prefix + "embeddings."
        L = len(ids)
        idt = torch.tensor(ids)
        if r.arch == "roberta":
            pos = torch.arange(L) + r.pad + 1
        else:
            pos = torch.arange(L)
        x = self.q(r.p(e + "word_embeddings.weight"))[idt] + self.q(r.p(e + "position_embeddings.weight"))[pos]
        if r.arch != "distilbert":
            x = x + r.p(e + "token_type_embeddings.weight")[0]
        x = self.ln(x, e + "LayerNorm")
        for i in range(r.layers):
            last = i == r.layers - 1
            if r.arch == "distilbert":
                p = f"distilbert.transformer.layer.{i}."
                names = [p + "attention.q_lin", p + "attention.k_lin", p + "attention.v_lin"]
                o, n1, f1, f2, n2 = (p + "attention.out_lin", p + "sa_layer_norm", p + "ffn.lin1", p + "ffn.lin2",
                                     p + "output_layer_norm")
            else:
                p = f"{r.prefix}encoder.layer.{i}."
                names = [p + "attention.self.query", p + "attention.self.key", p + "attention.self.value"]
                o, n1, f1, f2, n2 = (p + "attention.output.dense", p + "attention.output.LayerNorm",
                                     p + "intermediate.dense", p + "output.dense", p + "output.LayerNorm")
            ctx = self.attention(x, names, last)
            if last:
                x = x[:1]
            x = self.ln(self.gemm(ctx, o) + self.b(o) + x, n1)
            f = self.q(self.act(self.gemm(x, f1) + self.b(f1)))
            x = self.ln(self.gemm(f, f2) + self.b(f2) + x, n2)
        first = x[:1]
        if r.arch == "bert":
            pre, out, act = "bert.pooler.dense", "classifier", torch.tanh
        elif r.arch == "distilbert":
            pre, out, act = "pre_classifier", "classifier", F.relu
        else:
            pre, out, act = "classifier.dense", "classifier.out_proj", torch.tanh
        pooled = self.q(act(self.gemm(first, pre) + self.b(pre)))
        logits = pooled @ r.p(out + ".weight").T + r.p(out + ".bias")
        return logits[0], pooled[0]


def rel_l2(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--models", default=",".join(m[0] for m in MODELS[:-1]))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = random.Random(1)
    tmp = tempfile.mkdtemp(prefix="sluice-emulate-")
    print(f"{'model':<16} {'dtype':<5} {'logits rel L2':>14} {'logits max abs':>15} {'pooled rel L2':>14} {'pooled max abs':>15}")
    for name, margs in MODELS:
        if name not in args.models.split(","):
            continue
        d = os.path.join(tmp, name)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_random_model.py"), *margs.split(),
                        "--max-positions", "160", "--seed", "11", "--out", d], check=True)
        ref = Reference(d).eval()
        vocab = ref.p(ref.prefix + "embeddings.word_embeddings.weight").shape[0]
        for dt_name, dt in DTYPES.items():
            emu = Emulated(ref, dt)
            worst = [0.0, 0.0, 0.0, 0.0]
            for _ in range(args.batches):
                lengths = [rng.choice([1, 2, 17, 64, 65, 100, 128, 31, 160, 3]) for _ in range(6)]
                seqs = [[rng.randrange(2, vocab) for _ in range(n)] for n in lengths]
                with torch.inference_mode():
                    ids, mask = pad_batch(seqs, ref.pad)
                    want_logits, want_pooled, _, _ = ref.forward_all(ids, mask)
                    got = [emu.forward(s) for s in seqs]
                gl = torch.stack([g[0] for g in got])
                gp = torch.stack([g[1] for g in got])
                worst[0] = max(worst[0], rel_l2(gl, want_logits))
                worst[1] = max(worst[1], float((gl - want_logits).abs().max()))
                worst[2] = max(worst[2], rel_l2(gp, want_pooled))
                worst[3] = max(worst[3], float((gp - want_pooled).abs().max()))
            print(f"{name:<16} {dt_name:<5} {worst[0]:>14.2e} {worst[1]:>15.2e} {worst[2]:>14.2e} {worst[3]:>15.2e}",
                  flush=True)


if __name__ == "__main__":
    main()
