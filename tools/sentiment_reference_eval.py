#!/usr/bin/python3
"""Reference check of a Hugging Face BERT sequence-classification directory:
loads config.json + model.safetensors + tokenizer.json from disk, runs the
BERT forward pass in numpy (no PyTorch, no training code), and prints the
accuracy on SST-2 dev (or any `sentence<TAB>label` tsv).

    /usr/bin/python3 tools/sentiment_reference_eval.py [MODEL_DIR] [--dev TSV]
                     [--predictions OUT.jsonl]

It is the yardstick for `sluice classify --model MODEL_DIR`: both read the same
files, so their accuracies (and, up to float rounding, their probabilities)
must agree. Ids come from tools/wordpiece_vocab.py, which matches Hugging Face
tokenizers on all of SST-2 (tools/verify_sentiment_tokenizer.mjs).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import wordpiece_vocab  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    from scipy.special import erf as _erf
    ERF_SOURCE = "scipy.special.erf"
except ImportError:  # Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7
    ERF_SOURCE = "A&S 7.1.26 approximation"

    def _erf(x):
        s = np.sign(x)
        a = np.abs(x)
        t = 1.0 / (1.0 + 0.3275911 * a)
        y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
                    - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
        return s * y


def check_safetensors_layout(path):
    """Strict reading of the safetensors spec (what the Rust reader enforces):
    header length within the file, UTF-8 JSON, known dtypes, byte sizes that
    match the shapes, tensors tiling the data area with no gap or overlap."""
    itemsize = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
                "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    n = struct.unpack("<Q", data[:8])[0]
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not UTF-8 JSON ({e})") from None
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError(f"{path}: __metadata__ must map strings to strings")
    body = len(data) - 8 - n
    spans = []
    for name, info in header.items():
        if info.get("dtype") not in itemsize:
            raise ValueError(f"{path}: {name}: unknown dtype {info.get('dtype')!r}")
        begin, end = info["data_offsets"]
        size = int(np.prod(info["shape"], dtype=np.int64)) * itemsize[info["dtype"]]
        if end - begin != size:
            raise ValueError(f"{path}: {name}: {end - begin} bytes for shape {info['shape']} {info['dtype']}")
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise ValueError(f"{path}: {name} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != body:
        raise ValueError(f"{path}: tensors cover {pos} of {body} data bytes")


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.T + b  # w is [out, in], as torch.nn.Linear stores it


class NumpyBert:
    """BertForSequenceClassification inference, one sequence at a time (no
    padding, so no mask is needed)."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            self.config = c = json.load(f)
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings", "layer_norm_eps",
                    "vocab_size", "id2label"):
            if key not in c:
                raise ValueError(f"{model_dir}/config.json: missing key {key!r}")
        if c.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{model_dir}/config.json: hidden_act {c['hidden_act']!r}, "
                             "this reference implements 'gelu' only")
        path = os.path.join(model_dir, "model.safetensors")
        check_safetensors_layout(path)
        self.w = {k: v.astype(np.float32) for k, v in safetensors_io.read(path).items()}
        self.heads = c["num_attention_heads"]
        self.eps = c["layer_norm_eps"]
        self._check_shapes(path)

    def _check_shapes(self, path):
        c, h, i = self.config, self.config["hidden_size"], self.config["intermediate_size"]
        want = {
            "bert.embeddings.word_embeddings.weight": (c["vocab_size"], h),
            "bert.embeddings.position_embeddings.weight": (c["max_position_embeddings"], h),
            "bert.embeddings.token_type_embeddings.weight": (c.get("type_vocab_size", 2), h),
            "bert.embeddings.LayerNorm.weight": (h,), "bert.embeddings.LayerNorm.bias": (h,),
            "bert.pooler.dense.weight": (h, h), "bert.pooler.dense.bias": (h,),
            "classifier.weight": (len(c["id2label"]), h), "classifier.bias": (len(c["id2label"]),),
        }
        for n in range(c["num_hidden_layers"]):
            p = f"bert.encoder.layer.{n}."
            for m in ("attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense"):
                want[p + m + ".weight"], want[p + m + ".bias"] = (h, h), (h,)
            for m in ("attention.output.LayerNorm", "output.LayerNorm"):
                want[p + m + ".weight"], want[p + m + ".bias"] = (h,), (h,)
            want[p + "intermediate.dense.weight"], want[p + "intermediate.dense.bias"] = (i, h), (i,)
            want[p + "output.dense.weight"], want[p + "output.dense.bias"] = (h, i), (h,)
        missing = sorted(set(want) - set(self.w))
        extra = sorted(set(self.w) - set(want))
        if missing or extra:
            raise ValueError(f"{path}: missing tensors {missing}, unexpected tensors {extra}")
        for k, shape in want.items():
            if self.w[k].shape != shape:
                raise ValueError(f"{path}: {k} has shape {list(self.w[k].shape)}, expected {list(shape)}")

    def logits(self, ids):
        w, eps = self.w, self.eps
        n = len(ids)
        if n > self.config["max_position_embeddings"]:
            raise ValueError(f"sequence of {n} ids exceeds max_position_embeddings")
        x = (w["bert.embeddings.word_embeddings.weight"][ids]
             + w["bert.embeddings.position_embeddings.weight"][:n]
             + w["bert.embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["bert.embeddings.LayerNorm.weight"], w["bert.embeddings.LayerNorm.bias"], eps)
        h = x.shape[1]
        d = h // self.heads
        for layer in range(self.config["num_hidden_layers"]):
            p = f"bert.encoder.layer.{layer}."

            def lin(name, v, p=p):
                return linear(v, w[p + name + ".weight"], w[p + name + ".bias"])

            q = lin("attention.self.query", x).reshape(n, self.heads, d).transpose(1, 0, 2)
            k = lin("attention.self.key", x).reshape(n, self.heads, d).transpose(1, 0, 2)
            v = lin("attention.self.value", x).reshape(n, self.heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, h)
            a = layer_norm(lin("attention.output.dense", ctx) + x,
                           w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], eps)
            f = lin("output.dense", gelu(lin("intermediate.dense", a)))
            x = layer_norm(f + a, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        pooled = np.tanh(linear(x[0], w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"]))
        return linear(pooled, w["classifier.weight"], w["classifier.bias"])


def load_tokenizer(model_dir):
    tok = wordpiece_vocab.WordPieceTokenizer.from_tokenizer_json(os.path.join(model_dir, "tokenizer.json"))
    vocab_txt = os.path.join(model_dir, "vocab.txt")
    if os.path.exists(vocab_txt):
        other = wordpiece_vocab.WordPieceTokenizer.from_vocab_file(vocab_txt)
        if other.vocab != tok.vocab:
            raise ValueError(f"{model_dir}: vocab.txt and tokenizer.json disagree")
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", nargs="?", default=os.path.join(REPO_ROOT, "models", "sentiment-sst2-small"))
    ap.add_argument("--dev", default=os.path.join(REPO_ROOT, "..", "shared", "data", "sst2", "dev.tsv"))
    ap.add_argument("--predictions", help="write one JSON line per sentence (label, probabilities)")
    args = ap.parse_args()

    model = NumpyBert(args.model_dir)
    tok = load_tokenizer(args.model_dir)
    if len(tok.vocab) != model.config["vocab_size"]:
        raise ValueError(f"{args.model_dir}: tokenizer has {len(tok.vocab)} tokens, "
                         f"config.json vocab_size is {model.config['vocab_size']}")
    id2label = {int(k): v for k, v in model.config["id2label"].items()}
    label_of_name = {"negative": 0, "positive": 1}

    with open(args.dev, encoding="utf-8", newline="\n") as f:
        f.readline()
        rows = [line.rstrip("\n").rpartition("\t") for line in f if line.strip()]
    correct = 0
    out = open(args.predictions, "w", encoding="utf-8") if args.predictions else None
    for text, _, label in rows:
        logits = model.logits(tok.encode(text, model.config["max_position_embeddings"]))
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        pred = id2label[int(np.argmax(logits))]
        correct += label_of_name.get(pred, -1) == int(label)
        if out:
            out.write(json.dumps({"text": text, "label": pred,
                                  "probs": {id2label[i]: round(float(p), 6) for i, p in enumerate(probs)}}) + "\n")
    if out:
        out.close()
    print(f"{args.model_dir}: SST-2 dev accuracy {correct / len(rows):.4f} ({correct}/{len(rows)}); "
          f"numpy fp32 forward of the stored weights, GELU via {ERF_SOURCE}")


if __name__ == "__main__":
    main()
