#!/usr/bin/python3
"""Writes a random sequence-classification model directory exactly as Hugging
Face lays it out (config.json + model.safetensors, HF tensor names), for tests
and benchmarks. Architectures: bert, distilbert, roberta, xlm-roberta.

Weights are scaled so that activations stay O(1) through the layers and logits
differ clearly between inputs (a comparison against a reference is then
sensitive), not initialised like a model about to be trained.

  /usr/bin/python3 tools/make_random_model.py --arch bert --layers 2 --hidden 64 \
      --heads 4 --intermediate 128 --out build/models/bert-tiny
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def make(args):
    rng = np.random.default_rng(args.seed)
    d, inter, layers = args.hidden, args.intermediate, args.layers
    t = {}

    def normal(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def linear(name, out_f, in_f):
        t[name + ".weight"] = normal((out_f, in_f), 1.0 / np.sqrt(in_f))
        t[name + ".bias"] = normal((out_f,), 0.1)

    def norm(name):
        t[name + ".weight"] = 1.0 + normal((d,), 0.1)
        t[name + ".bias"] = normal((d,), 0.1)

    arch = args.arch
    max_pos = args.max_positions
    if arch in ("roberta", "xlm-roberta"):
        max_pos += args.pad_token_id + 1  # HF RoBERTa positions start after padding_idx
    if arch == "distilbert":
        p = "distilbert."
        t[p + "embeddings.word_embeddings.weight"] = normal((args.vocab, d), 1.0)
        t[p + "embeddings.position_embeddings.weight"] = normal((max_pos, d), 0.5)
        norm(p + "embeddings.LayerNorm")
        for i in range(layers):
            q = f"{p}transformer.layer.{i}."
            for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
                linear(q + "attention." + n, d, d)
            norm(q + "sa_layer_norm")
            linear(q + "ffn.lin1", inter, d)
            linear(q + "ffn.lin2", d, inter)
            norm(q + "output_layer_norm")
        linear("pre_classifier", d, d)
        linear("classifier", args.labels, d)
    else:
        p = "bert." if arch == "bert" else "roberta."
        t[p + "embeddings.word_embeddings.weight"] = normal((args.vocab, d), 1.0)
        t[p + "embeddings.position_embeddings.weight"] = normal((max_pos, d), 0.5)
        t[p + "embeddings.token_type_embeddings.weight"] = normal((args.type_vocab, d), 0.5)
        norm(p + "embeddings.LayerNorm")
        for i in range(layers):
            q = f"{p}encoder.layer.{i}."
            for n in ("query", "key", "value"):
                linear(q + "attention.self." + n, d, d)
            linear(q + "attention.output.dense", d, d)
            norm(q + "attention.output.LayerNorm")
            linear(q + "intermediate.dense", inter, d)
            linear(q + "output.dense", d, inter)
            norm(q + "output.LayerNorm")
        if arch == "bert":
            linear(p + "pooler.dense", d, d)
            linear("classifier", args.labels, d)
        else:
            linear("classifier.dense", d, d)
            linear("classifier.out_proj", args.labels, d)

    labels = args.label_names.split(",") if args.label_names else [f"LABEL_{i}" for i in range(args.labels)]
    if len(labels) != args.labels:
        raise SystemExit("--label-names must list --labels names")
    common = {
        "id2label": {str(i): n for i, n in enumerate(labels)},
        "label2id": {n: i for i, n in enumerate(labels)},
        "max_position_embeddings": max_pos,
        "pad_token_id": args.pad_token_id,
        "vocab_size": args.vocab,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[args.dtype],
        "transformers_version": "4.56.0",
    }
    if args.problem_type:
        common["problem_type"] = args.problem_type
    if arch == "distilbert":
        config = {
            "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
            "activation": args.act, "dim": d, "hidden_dim": inter, "n_layers": layers, "n_heads": args.heads,
            "dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.2, "qa_dropout": 0.1,
            "sinusoidal_pos_embds": False, "initializer_range": 0.02, "tie_weights_": True,
        }
    else:
        cls = {"bert": "BertForSequenceClassification", "roberta": "RobertaForSequenceClassification",
               "xlm-roberta": "XLMRobertaForSequenceClassification"}[arch]
        config = {
            "architectures": [cls], "model_type": arch, "hidden_size": d, "num_hidden_layers": layers,
            "num_attention_heads": args.heads, "intermediate_size": inter, "hidden_act": args.act,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "type_vocab_size": args.type_vocab, "initializer_range": 0.02,
            "layer_norm_eps": args.layer_norm_eps if args.layer_norm_eps else (1e-5 if arch != "bert" else 1e-12),
            "position_embedding_type": "absolute", "classifier_dropout": None,
        }
        if arch != "bert":
            config["bos_token_id"] = 0
            config["eos_token_id"] = 2
    config.update(common)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    safetensors_io.write(os.path.join(args.out, "model.safetensors"), t, dtype=args.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", required=True, choices=["bert", "distilbert", "roberta", "xlm-roberta"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--max-positions", type=int, default=128,
                    help="longest sequence (RoBERTa adds pad_token_id + 1 table rows)")
    ap.add_argument("--type-vocab", type=int, default=2)
    ap.add_argument("--labels", type=int, default=3)
    ap.add_argument("--label-names", default="")
    ap.add_argument("--act", default="gelu")
    ap.add_argument("--layer-norm-eps", type=float, default=0.0)
    ap.add_argument("--pad-token-id", type=int, default=None)
    ap.add_argument("--problem-type", default="")
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.pad_token_id is None:
        args.pad_token_id = 1 if args.arch in ("roberta", "xlm-roberta") else 0
    if args.arch in ("roberta", "xlm-roberta") and args.type_vocab == 2:
        args.type_vocab = 1
    if args.hidden % args.heads:
        raise SystemExit("--hidden must be a multiple of --heads")
    make(args)


if __name__ == "__main__":
    main()
