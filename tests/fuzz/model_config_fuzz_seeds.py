"""Seeds for model_config_fuzz: configs of the three architectures at the
sizes of the fuzzer's tiny weights (so mutations reach Model::load's shape
checks), the shipped model's config.json, and the hostile cases of the
hardening issue: hidden_size 65536, num_labels 1e12 (float and integer),
a type_vocab_size whose table's byte count wraps, eps beyond float,
pad_token_id beyond 32 bits, 100,000 levels of nesting.
Usage: model_config_fuzz_seeds.py OUT_DIR"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parents[2]

# tests/fuzz/model_config_fuzz.cpp: vocab 16, hidden 8, 1 layer, intermediate 16,
# 16 positions, 2 token types, 2 labels.
bert = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert",
    "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "hidden_act": "gelu", "max_position_embeddings": 16,
    "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
    "problem_type": "single_label_classification",
}
roberta = dict(bert, architectures=["RobertaForSequenceClassification"], model_type="roberta",
               pad_token_id=1, layer_norm_eps=1e-5, hidden_act="gelu_new")
distil = {
    "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
    "vocab_size": 16, "dim": 8, "n_layers": 1, "n_heads": 2, "hidden_dim": 16,
    "activation": "relu", "max_position_embeddings": 16, "pad_token_id": 0,
    "id2label": {"0": "a", "1": "b"},
}


def seed(name, config):
    text = config if isinstance(config, str) else json.dumps(config)
    (out / name).write_text(text)


seed("bert", bert)
seed("roberta", roberta)
seed("distilbert", distil)
seed("bert-no-architectures", {k: v for k, v in bert.items() if k != "architectures"})
seed("multi-label", dict(bert, problem_type="multi_label_classification"))
seed("regression", dict({k: v for k, v in bert.items() if k not in ("id2label", "label2id")},
                        num_labels=1))
seed("shipped", (root / "models" / "sentiment-sst2-small" / "config.json").read_text())

seed("hidden-65536", dict(bert, hidden_size=65536))
# Sized to fail -malloc_limit_mb should anything allocate before comparing shapes.
seed("vocab-16m-hidden-65536", dict(bert, vocab_size=2**24, hidden_size=65536))
no_labels = {k: v for k, v in bert.items() if k not in ("id2label", "label2id")}
seed("num-labels-1e12-float", json.dumps(dict(no_labels, num_labels=0)).replace(
    '"num_labels": 0', '"num_labels": 1e12'))
seed("num-labels-1e12-int", dict(no_labels, num_labels=10**12))
seed("type-vocab-wraps", dict(bert, type_vocab_size=2**55 + 2))
seed("eps-1e300", dict(bert, layer_norm_eps=1e300))
seed("pad-2-40", dict(bert, pad_token_id=2**40))
seed("id2label-sparse", dict(bert, id2label={"0": "a", "99999999999": "b"}))
seed("nested", json.dumps(bert)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
seed("vocab-uint64", json.dumps(bert).replace('"vocab_size": 16', '"vocab_size": 18446744073709551615'))
seed("number-overflow", json.dumps(bert).replace('"vocab_size": 16', '"vocab_size": 1e400'))
