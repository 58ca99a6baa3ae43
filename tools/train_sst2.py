#!/usr/bin/python3
"""Trains sluice's binary SST-2 sentiment model (models/sentiment-sst2-small;
the default tweet model is tools/train_sentiment.py's): a small BERT sequence
classifier learned from scratch on SST-2 train, written as a Hugging Face model directory
(config.json, model.safetensors in fp16, tokenizer.json, vocab.txt,
tokenizer_config.json, special_tokens_map.json, README.md).

    /usr/bin/python3 tools/train_sst2.py            # models/sentiment-sst2-small
    /usr/bin/python3 tools/train_sst2.py --out /tmp/m --epochs 1   # a quick try

Steps: learn a WordPiece vocabulary from SST-2 train (tools/wordpiece_vocab.py,
ids verified equal to Hugging Face's by tools/verify_sentiment_tokenizer.mjs);
optionally pre-train with masked-LM on the train sentences; fine-tune on the
train labels; report SST-2 dev accuracy of the fp32 weights and of the
fp16-rounded weights that are written (dev is never trained on).

CPU only, `--threads` (default 1) intra-op threads, seeded and deterministic:
the same command on the same machine and thread count gives the same bytes.
"""

import argparse
import json
import os
import random
import sys
import time

# OpenBLAS reads this once, when numpy/torch load it: keep BLAS on the caller's
# thread so that --threads is the whole story (see --threads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_model  # noqa: E402
import safetensors_io  # noqa: E402
import wordpiece_vocab  # noqa: E402
from train_common import (PackedSeqs, WeightAverage, fp16_rounded_state, hf_config,  # noqa: E402
                          length_bucketed_batches, lr_lambda, make_optimizer,
                          pretrain_mlm, seed_everything)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ID2LABEL = {0: "negative", 1: "positive"}
LOG = []  # progress lines, repeated in the model card


def log(msg):
    LOG.append(msg)
    print(msg, flush=True)


def read_tsv(path):
    """SST-2 GLUE tsv: header `sentence<TAB>label`; returns (texts, labels)."""
    with open(path, encoding="utf-8", newline="\n") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["sentence", "label"]:
            raise ValueError(f"{path}: header is {header}, expected ['sentence', 'label']")
        texts, labels = [], []
        for n, line in enumerate(f, start=2):
            line = line.rstrip("\n")
            if not line:
                continue
            text, sep, label = line.rpartition("\t")
            if not sep or label not in ("0", "1"):
                raise ValueError(f"{path}:{n}: expected text<TAB>0|1, got {line!r}")
            texts.append(text)
            labels.append(int(label))
    return texts, labels


@torch.no_grad()
def evaluate(model, packed, labels, batch_size=128):
    model.eval()
    order = sorted(range(len(packed)), key=lambda i: int(packed.lengths[i]))
    correct = 0
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        pred = model(*packed.batch(idx)).argmax(-1)
        correct += sum(int(pred[j]) == labels[i] for j, i in enumerate(idx))
    return correct / len(packed)


def finetune(model, train, train_labels, dev, dev_labels, tok, args, rng):
    opt = make_optimizer(list(model.named_parameters()), args.lr, args.weight_decay)
    lengths = train.lengths.tolist()
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(args.warmup * total), total))
    labels_t = torch.tensor(train_labels, dtype=torch.long)
    first_normal = len(wordpiece_vocab.SPECIAL_TOKENS)
    ema = WeightAverage(model, args.ema) if args.ema else None
    for epoch in range(args.epochs):
        model.train()
        t0, loss_sum, n = time.time(), 0.0, 0
        for batch in length_bucketed_batches(lengths, args.batch_size, rng):
            ids, mask = train.batch(batch)
            if args.token_dropout > 0:
                drop = (torch.rand(ids.shape) < args.token_dropout) & (ids >= first_normal)
                ids = ids.masked_fill(drop, tok.unk_id)
            logits = model(ids, mask)
            loss = F.cross_entropy(logits, labels_t[batch], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if ema:
                ema.update()
            loss_sum += float(loss) * len(batch)
            n += len(batch)
        acc = evaluate(model, dev, dev_labels)
        msg = f"epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / n:.4f}, dev acc {acc:.4f}"
        if ema:
            ema.swap()
            msg += f", dev acc (ema) {evaluate(model, dev, dev_labels):.4f}"
            ema.swap()
        log(f"{msg} ({time.time() - t0:.0f} s, cpu {time.process_time():.0f} s)")
    if ema:
        ema.swap()  # ship the average


def write_model_card(out, args, config, n_params, log_lines, acc32, acc16, n_dev, wall, cpu):
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(vars(args).items())
                    if k not in ("train", "dev", "out", "no_save"))
    card = f"""# sentiment-sst2-small

Binary sentiment classifier (`negative` / `positive`) for English text, shipped with
sluice for the real-time sentiment demo and tests. A standard Hugging Face
`BertForSequenceClassification` checkpoint, trained from scratch by
`tools/train_sst2.py`; no pre-trained weights are used.

| | |
|---|---|
| version | 1.0 |
| architecture | BERT: {config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, intermediate {config.intermediate_size}, exact GELU, post-LayerNorm, max {config.max_position_embeddings} positions; pooler (tanh) + linear classifier on `[CLS]` |
| parameters | {n_params / 1e6:.2f} M, stored as fp16 (`model.safetensors`, {size / 2**20:.1f} MiB) |
| tokenizer | WordPiece, {config.vocab_size} tokens learned from SST-2 train (BERT normalization: lower case, accents stripped; `[PAD]`=0 `[UNK]`=1 `[CLS]`=2 `[SEP]`=3 `[MASK]`=4); input is `[CLS] text [SEP]` |
| labels | 0 `negative`, 1 `positive` |
| SST-2 dev accuracy | **{acc16:.4f}** ({round(acc16 * n_dev)}/{n_dev}) with the stored fp16 weights (fp32 before rounding: {acc32:.4f}) |

## Data

GLUE SST-2 (Stanford Sentiment Treebank, binary; Socher et al. 2013): trained on the
67,349 labelled phrases of `train.tsv` only; `dev.tsv` (872 sentences) is used for
evaluation and was never trained on (it did guide the choice of hyper-parameters).
The vocabulary is learned from the train phrases only.

## Training

```
/usr/bin/python3 tools/train_sst2.py {opts}
```

Seeded and deterministic on CPU (same machine and `--threads` give the same weights).
AdamW (betas 0.9/0.98, weight decay on matrices only), linear warm-up then linear decay,
label smoothing, dropout, gradient clipping at 1.0. Wall time {wall / 60:.1f} min
(CPU time {cpu / 60:.1f} min, one thread, on a shared 2-core machine). Log:

```
{chr(10).join(log_lines)}
```

## Checking it

```
/usr/bin/python3 tools/sentiment_reference_eval.py models/sentiment-sst2-small   # numpy forward from the files
node tools/verify_sentiment_tokenizer.mjs models/sentiment-sst2-small             # training ids == HF tokenizers ids
```

## Limits

A small model trained on movie-review snippets: expect lower accuracy on other domains
(tweets, product reviews), on sarcasm and on words never seen in SST-2 (they are
split into sub-words or become `[UNK]`). Use a larger Hugging Face checkpoint when
accuracy matters (see `models/README.md`).

## Licence

Derived from SST-2, a research data set distributed without an explicit licence
(cite Socher et al., "Recursive Deep Models for Semantic Compositionality Over a
Sentiment Treebank", EMNLP 2013). The weights and vocabulary are the sluice project's
own work, under the project's licence, subject to the terms of the source data.
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    data = os.path.join(REPO_ROOT, "..", "shared", "data", "sst2")
    ap.add_argument("--train", default=os.path.join(data, "train.tsv"))
    ap.add_argument("--dev", default=os.path.join(data, "dev.tsv"))
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "models", "sentiment-sst2-small"))
    ap.add_argument("--no-save", action="store_true", help="train and report only")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads; 1 is fastest on a busy 2-core box (OpenMP "
                         "threads spin at barriers: 2 s/step with 2 threads vs 0.2 s with 1 "
                         "while other jobs compile); results depend on this number")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--max-positions", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--attention-dropout", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.06, help="fraction of steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--token-dropout", type=float, default=0.1,
                    help="probability of replacing a word piece by [UNK] while fine-tuning")
    ap.add_argument("--ema", type=float, default=0.999,
                    help="decay of an exponential moving average of the weights (0 = off)")
    ap.add_argument("--mlm-epochs", type=int, default=0)
    ap.add_argument("--mlm-lr", type=float, default=5e-4)
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N train rows (quick tries)")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    rng = random.Random(args.seed)

    train_texts, train_labels = read_tsv(args.train)
    dev_texts, dev_labels = read_tsv(args.dev)
    if args.train_limit:
        train_texts, train_labels = train_texts[:args.train_limit], train_labels[:args.train_limit]
    vocab = wordpiece_vocab.learn_vocab(train_texts, args.vocab_size)
    tok = wordpiece_vocab.WordPieceTokenizer(vocab)
    max_len = args.max_positions
    train = PackedSeqs([tok.encode(t, max_len) for t in train_texts], tok.pad_id)
    dev = PackedSeqs([tok.encode(t, max_len) for t in dev_texts], tok.pad_id)
    log(f"vocab {len(vocab)}; train {len(train)} (mean {train.lengths.float().mean():.1f} ids), "
        f"dev {len(dev)} (mean {dev.lengths.float().mean():.1f} ids)")

    config = bert_model.BertConfig(
        vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=args.intermediate,
        max_position_embeddings=args.max_positions, hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.attention_dropout, pad_token_id=tok.pad_id,
        num_labels=len(ID2LABEL))
    model = bert_model.BertForSequenceClassification(config)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {args.layers} layers, hidden {args.hidden}, {args.heads} heads, "
        f"intermediate {args.intermediate}; {n_params / 1e6:.2f} M parameters")

    if args.mlm_epochs:
        pretrain_mlm(model, train, tok, args, rng, log)
    finetune(model, train, train_labels, dev, dev_labels, tok, args, rng)

    acc32 = evaluate(model, dev, dev_labels)
    state16 = fp16_rounded_state(model)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state16.items()})
    acc16 = evaluate(model, dev, dev_labels)
    wall = time.time() - t_start
    log(f"dev accuracy: fp32 {acc32:.4f}, fp16 weights {acc16:.4f} "
        f"({round(acc16 * len(dev))}/{len(dev)}); wall time {wall / 60:.1f} min, "
        f"cpu time {time.process_time() / 60:.1f} min")

    if args.no_save:
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(config, vocab, ID2LABEL), f, indent=2)
        f.write("\n")
    safetensors_io.write(os.path.join(args.out, "model.safetensors"), state16, dtype="F16",
                         metadata={"format": "pt"})
    wordpiece_vocab.write_tokenizer_files(args.out, vocab, args.max_positions)
    write_model_card(args.out, args, config, n_params, LOG, acc32, acc16, len(dev), wall,
                     time.process_time())
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
