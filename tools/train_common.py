"""Training pieces shared by sluice's model trainers (tools/train_sst2.py,
tools/train_sentiment.py): packed batches, length bucketing, the AdamW set-up
and schedule, a weight average, masked-LM pre-training and the Hugging Face
config.json of a BERT classifier. CPU only, deterministic for a given seed
and thread count.
"""

import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import bert_model
import wordpiece_vocab


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


class PackedSeqs:
    """All sequences of a split right-padded in one tensor, so a batch is one
    gather plus a slice to its longest member."""

    def __init__(self, seqs, pad_id):
        self.lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        self.ids = torch.full((len(seqs), int(self.lengths.max())), pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            self.ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        positions = torch.arange(self.ids.shape[1])
        self.mask = (positions[None, :] < self.lengths[:, None]).long()

    def __len__(self):
        return len(self.lengths)

    def batch(self, idx):
        idx = torch.as_tensor(idx, dtype=torch.long)
        n = int(self.lengths[idx].max())
        return self.ids[idx, :n], self.mask[idx, :n]


def length_bucketed_batches(lengths, batch_size, rng):
    """Shuffled batches of similar-length examples (less padding, same
    randomness as plain shuffling at the batch level)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: lengths[i])
        batches.extend(part[b:b + batch_size] for b in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def lr_lambda(warmup, total):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def make_optimizer(params_named, lr, weight_decay):
    decay, no_decay = [], []
    for name, p in params_named:
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6, foreach=True)


class WeightAverage:
    """Exponential moving average of the parameters (evaluated and shipped
    instead of the last iterate when --ema is set): cheap, and it smooths the
    noise of the final steps."""

    def __init__(self, model, decay):
        self.decay = decay
        self.params = [p for p in model.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self):
        torch._foreach_mul_(self.shadow, self.decay)
        torch._foreach_add_(self.shadow, [p.detach() for p in self.params], alpha=1.0 - self.decay)

    @torch.no_grad()
    def swap(self):
        """Exchanges live and averaged weights (call twice to undo)."""
        for p, s in zip(self.params, self.shadow):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


def pretrain_mlm(model, train, tok, args, rng, log):
    """Masked-LM on the train texts (BERT recipe: 15% of tokens, of those
    80% [MASK], 10% random, 10% kept). `train` is anything with `lengths` and
    `batch(idx)` (PackedSeqs)."""
    head = bert_model.BertMlmHead(model.config, model.bert.embeddings.word_embeddings)
    named = list(model.bert.named_parameters()) + list(head.named_parameters())
    opt = make_optimizer(named, args.mlm_lr, args.weight_decay)
    lengths = train.lengths.tolist()
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.mlm_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(args.warmup * total), total))
    vocab_n = len(tok.vocab)
    first_normal = len(wordpiece_vocab.SPECIAL_TOKENS)
    for epoch in range(args.mlm_epochs):
        model.train()
        head.train()
        t0, loss_sum = time.time(), 0.0
        for batch in length_bucketed_batches(lengths, args.batch_size, rng):
            ids, mask = train.batch(batch)
            chosen = (torch.rand(ids.shape) < 0.15) & (ids >= first_normal)
            r = torch.rand(ids.shape)
            inp = ids.clone()
            inp[chosen & (r < 0.8)] = tok.mask_id
            rand_pos = chosen & (r >= 0.8) & (r < 0.9)
            inp[rand_pos] = torch.randint(first_normal, vocab_n, ids.shape)[rand_pos]
            seq_out, _ = model.bert(inp, mask)
            loss = F.cross_entropy(head(seq_out[chosen]), ids[chosen])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
            opt.step()
            sched.step()
            loss_sum += float(loss)
        log(f"mlm epoch {epoch + 1}/{args.mlm_epochs}: loss {loss_sum / steps_per_epoch:.3f} "
            f"({time.time() - t0:.0f} s, cpu {time.process_time():.0f} s)")


def hf_config(c, vocab, id2label):
    """config.json of a BertForSequenceClassification, as transformers writes it."""
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "attention_probs_dropout_prob": c.attention_probs_dropout_prob,
        "classifier_dropout": c.classifier_dropout,
        "hidden_act": "gelu",
        "hidden_dropout_prob": c.hidden_dropout_prob,
        "hidden_size": c.hidden_size,
        "id2label": {str(k): v for k, v in id2label.items()},
        "initializer_range": c.initializer_range,
        "intermediate_size": c.intermediate_size,
        "label2id": {v: k for k, v in id2label.items()},
        "layer_norm_eps": c.layer_norm_eps,
        "max_position_embeddings": c.max_position_embeddings,
        "num_attention_heads": c.num_attention_heads,
        "num_hidden_layers": c.num_hidden_layers,
        "pad_token_id": vocab.index(wordpiece_vocab.PAD),
        "position_embedding_type": "absolute",
        "problem_type": "single_label_classification",
        "torch_dtype": "float16",
        "transformers_version": "4.56.0",
        "type_vocab_size": c.type_vocab_size,
        "use_cache": True,
        "vocab_size": c.vocab_size,
    }


def fp16_rounded_state(model):
    """The weights as they will be stored (fp16), back in float32."""
    return {k: v.detach().to(torch.float16).to(torch.float32).numpy()
            for k, v in model.state_dict().items()}
