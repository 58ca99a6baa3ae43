#!/usr/bin/python3
"""Independent PyTorch forward of Hugging Face BERT / DistilBERT / RoBERTa
(XLM-R) sequence classifiers, loading the same config.json + model.safetensors
as sluice. It is written from Hugging Face's modelling code (padded batch,
additive attention mask, torch.nn.functional ops), sharing nothing with the
C++ engine, so that the engine's tests can compare logits against it. The
same module is what tools/export_onnx.py exports and what the encoder
benchmark runs as its PyTorch peer. Needs only Debian's python3-torch.

  /usr/bin/python3 tools/reference_forward.py --model DIR --input ids.json --output out.json
ids.json: {"sequences": [[101, 2023, 102], ...]}   (token ids, no padding)
out.json: {"logits": [[...], ...], "pooled_head": ..., "first_token": ..., "mean": ...}
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ARCHS = {
    "BertForSequenceClassification": "bert",
    "DistilBertForSequenceClassification": "distilbert",
    "RobertaForSequenceClassification": "roberta",
    "XLMRobertaForSequenceClassification": "roberta",
}


class Reference(torch.nn.Module):
    """forward(input_ids [B, L] int64, attention_mask [B, L] int64) -> logits [B, num_labels].
    forward_all() also returns the three pooled vectors."""

    def __init__(self, model_dir, dtype=torch.float32):
        super().__init__()
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.arch = ARCHS[c["architectures"][0]]
        w = safetensors_io.read(os.path.join(model_dir, "model.safetensors"))
        self.w = torch.nn.ParameterDict()
        for name, a in w.items():
            if a.dtype.kind == "f":
                key = name.replace(".", "__")  # ParameterDict keys may not contain '.'
                self.w[key] = torch.nn.Parameter(torch.from_numpy(a.copy()).to(dtype), requires_grad=False)
        if self.arch == "distilbert":
            self.hidden, self.layers, self.heads = c["dim"], c["n_layers"], c["n_heads"]
            self.act = c.get("activation", "gelu")
            self.eps = 1e-12
            self.prefix = "distilbert."
        else:
            self.hidden, self.layers, self.heads = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
            self.act = c.get("hidden_act", "gelu")
            self.eps = c.get("layer_norm_eps", 1e-12)
            self.prefix = "bert." if self.arch == "bert" else "roberta."
        self.pad = c.get("pad_token_id", 1 if self.arch == "roberta" else 0)

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def linear(self, x, name):
        return F.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def norm(self, x, name):
        return F.layer_norm(x, (self.hidden,), self.p(name + ".weight"), self.p(name + ".bias"), self.eps)

    def activation(self, x):
        if self.act == "gelu":
            return F.gelu(x)
        if self.act in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            return F.gelu(x, approximate="tanh")
        if self.act == "relu":
            return F.relu(x)
        raise ValueError(f"unsupported activation {self.act}")

    def embeddings(self, ids):
        e = self.prefix + "embeddings."
        B, L = ids.shape
        if self.arch == "roberta":
            # HF create_position_ids_from_input_ids
            m = ids.ne(self.pad).int()
            pos = (torch.cumsum(m, dim=1).type_as(m) * m).long() + self.pad
        else:
            pos = torch.arange(L, dtype=torch.long).unsqueeze(0).expand(B, L)
        x = F.embedding(ids, self.p(e + "word_embeddings.weight")) + \
            F.embedding(pos, self.p(e + "position_embeddings.weight"))
        if self.arch != "distilbert":
            x = x + self.p(e + "token_type_embeddings.weight")[0]
        return self.norm(x, e + "LayerNorm")

    def attention(self, x, mask_add, q_name, k_name, v_name, o_name):
        B, L = x.shape[0], x.shape[1]
        d, h = self.hidden, self.heads
        dh = d // h  # Python ints: constants in an exported graph

        def split(t):
            return t.view(B, L, h, dh).transpose(1, 2)

        q, k, v = split(self.linear(x, q_name)), split(self.linear(x, k_name)), split(self.linear(x, v_name))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + mask_add
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, L, d)
        return self.linear(ctx, o_name)

    def encoder(self, ids, mask):
        x = self.embeddings(ids)
        mask_add = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i in range(self.layers):
            if self.arch == "distilbert":
                p = f"distilbert.transformer.layer.{i}."
                a = self.attention(x, mask_add, p + "attention.q_lin", p + "attention.k_lin",
                                   p + "attention.v_lin", p + "attention.out_lin")
                x = self.norm(a + x, p + "sa_layer_norm")
                f = self.linear(self.activation(self.linear(x, p + "ffn.lin1")), p + "ffn.lin2")
                x = self.norm(f + x, p + "output_layer_norm")
            else:
                p = f"{self.prefix}encoder.layer.{i}."
                a = self.attention(x, mask_add, p + "attention.self.query", p + "attention.self.key",
                                   p + "attention.self.value", p + "attention.output.dense")
                x = self.norm(a + x, p + "attention.output.LayerNorm")
                f = self.linear(self.activation(self.linear(x, p + "intermediate.dense")), p + "output.dense")
                x = self.norm(f + x, p + "output.LayerNorm")
        return x

    def head(self, first):
        if self.arch == "bert":
            pooled = torch.tanh(self.linear(first, "bert.pooler.dense"))
            return self.linear(pooled, "classifier"), pooled
        if self.arch == "distilbert":
            pooled = F.relu(self.linear(first, "pre_classifier"))
            return self.linear(pooled, "classifier"), pooled
        pooled = torch.tanh(self.linear(first, "classifier.dense"))
        return self.linear(pooled, "classifier.out_proj"), pooled

    def forward(self, input_ids, attention_mask):
        x = self.encoder(input_ids, attention_mask)
        return self.head(x[:, 0])[0]

    def forward_all(self, input_ids, attention_mask):
        x = self.encoder(input_ids, attention_mask)
        logits, pooled = self.head(x[:, 0])
        m = attention_mask.to(x.dtype).unsqueeze(-1)
        mean = (x * m).sum(1) / m.sum(1)
        return logits, pooled, x[:, 0], mean


def pad_batch(sequences, pad_id):
    L = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), L), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    ref = Reference(args.model, dtype)
    with open(args.input) as f:
        seqs = json.load(f)["sequences"]
    ids, mask = pad_batch(seqs, ref.pad)
    with torch.inference_mode():
        logits, pooled, first, mean = ref.forward_all(ids, mask)
    out = {k: v.double().tolist() for k, v in
           (("logits", logits), ("pooled_head", pooled), ("first_token", first), ("mean", mean))}
    with open(args.output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
