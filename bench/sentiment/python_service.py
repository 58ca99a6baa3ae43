#!/usr/bin/python3
"""Sentiment classification as a Python Kafka service: the peer that
bench/sentiment/run.py measures sluice's sentiment pipeline against.

It is what a competent Python engineer would deploy instead of sluice:

    consume a batch (up to --batch-size messages or --batch-timeout-ms)
      -> decode JSON {"id", "text", ...} (or raw text)
      -> BERT WordPiece tokenization (bert_tokenizer.py: translate tables, word cache)
      -> PyTorch forward of the same safetensors weights (bert_classifier.py),
         length-sorted sub-batches padded only to their longest member,
         torch.inference_mode, --threads intra-op threads (OpenBLAS/oneDNN)
      -> produce one JSON result per message with the fields of sluice's classify
         ({"id", "label", "score", "model", "latency_ms"}; key kept), dead letters for
         undecodable input
      -> flush the producer, then commit the batch's offsets ("commit after
         produce": at-least-once, like sluice)

While the model runs on batch n, a helper thread already consumes and
tokenizes batch n+1 (PyTorch releases the GIL), so Kafka and Python
tokenization overlap inference instead of adding to it.

Stops cleanly on SIGTERM/SIGINT: finishes the batch in hand, flushes, commits.

    /usr/bin/python3 bench/sentiment/python_service.py --bootstrap HOST:PORT \\
        --input tweets --output results --group py --model models/sentiment-sst2-small --threads 2
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _threads_from_argv(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(os.cpu_count())


# torch reaches BLAS (Debian: OpenBLAS, pthread build) through libblas.so.3;
# OpenBLAS sizes its thread pool once, when it loads, so the thread count
# must be in the environment before torch is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_from_argv(sys.argv))

import torch  # noqa: E402
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402

from bert_classifier import BertClassifier  # noqa: E402
from bert_tokenizer import BertTokenizer  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True, help="input topic")
    ap.add_argument("--output", required=True, help="results topic")
    ap.add_argument("--dead-letters", default="", help="dead-letter topic ('' = log and skip)")
    ap.add_argument("--group", required=True)
    ap.add_argument("--model", required=True, help="Hugging Face model directory")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--format", choices=["json", "raw"], default="json")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--id-field", default="id")
    ap.add_argument("--batch-size", type=int, default=64, help="most messages per consumed batch")
    ap.add_argument("--batch-timeout-ms", type=float, default=5.0, help="longest wait to fill a batch")
    ap.add_argument("--sub-batch", type=int, default=32, help="most sequences per forward pass")
    ap.add_argument("--max-length", type=int, default=128, help="token ids per sequence, [CLS]/[SEP] included")
    ap.add_argument("--consumer-property", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka consumer property (repeatable), e.g. fetch.wait.max.ms=10")
    ap.add_argument("--producer-property", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka producer property (repeatable)")
    return ap.parse_args()


def properties(pairs):
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {p!r}")
        out[k] = v
    return out


class Decoded:
    __slots__ = ("msg", "t0", "id", "text", "error")

    def __init__(self, msg, id_=None, text=None, error=None):
        self.msg, self.id, self.text, self.error = msg, id_, text, error
        self.t0 = time.monotonic()  # when the service got it (for latency_ms)


class Service:
    def __init__(self, args):
        self.args = args
        torch.set_num_threads(args.threads)
        self.tokenizer = BertTokenizer.from_dir(args.model)
        self.model = BertClassifier(args.model)
        self.max_length = min(args.max_length, self.model.max_positions)
        self.labels = self.model.labels
        self.model_name = os.path.basename(os.path.normpath(args.model))
        self.stop = threading.Event()
        self.delivery_error = None
        self.records = 0
        common = {"bootstrap.servers": args.bootstrap}
        self.consumer = Consumer({
            **common,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            **properties(args.consumer_property),
        })
        self.producer = Producer({
            **common,
            "enable.idempotence": True,  # as sluice's sink: no duplicates from producer retries
            "linger.ms": 2,
            "compression.type": "none",
            **properties(args.producer_property),
        })
        self.prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")

    # -- decode + tokenize (runs on the prefetch thread) ------------------------
    def decode(self, m):
        value = m.value()
        if value is None or len(value) == 0:
            return Decoded(m, error=("empty", "empty value"))
        if self.args.format == "raw":
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError as e:
                return Decoded(m, error=("invalid_utf8", str(e)))
            return Decoded(m, text=text)
        try:
            doc = json.loads(value)
        except ValueError as e:  # includes invalid UTF-8
            return Decoded(m, error=("invalid_json", str(e)))
        if not isinstance(doc, dict):
            return Decoded(m, error=("invalid_json", "not a JSON object"))
        text = doc.get(self.args.text_field)
        if not isinstance(text, str):
            return Decoded(m, error=("missing_field", f"no string field '{self.args.text_field}'"))
        if not text:
            return Decoded(m, error=("empty", "empty text"))
        return Decoded(m, doc.get(self.args.id_field), text)

    def next_batch(self):
        """Consumes up to batch-size messages and tokenizes them: (decoded, ids)."""
        msgs = self.consumer.consume(num_messages=self.args.batch_size, timeout=self.args.batch_timeout_ms / 1000)
        batch, ids = [], []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"consumer error: {err}")
            d = self.decode(m)
            batch.append(d)
            ids.append(None if d.error else self.tokenizer.encode(d.text, self.max_length))
        return batch, ids

    # -- inference ---------------------------------------------------------------
    @torch.inference_mode()
    def classify(self, seqs):
        """[(label, score)] for each id sequence, in order."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = [None] * len(seqs)
        sub = self.args.sub_batch
        pad = self.tokenizer.pad_id
        for c in range(0, len(order), sub):
            idx = order[c:c + sub]
            width = len(seqs[idx[-1]])
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                n = len(seqs[i])
                ids[row, :n] = torch.tensor(seqs[i], dtype=torch.long)
                mask[row, :n] = 1
            probs = self.model(ids, mask)
            score, label = probs.max(dim=-1)
            for row, i in enumerate(idx):
                out[i] = (self.labels[int(label[row])], float(score[row]))
        return out

    # -- output --------------------------------------------------------------------
    def on_delivery(self, err, msg):
        if err is not None and self.delivery_error is None:
            self.delivery_error = err

    def publish(self, batch, ids):
        good = [i for i, d in enumerate(batch) if d.error is None]
        results = self.classify([ids[i] for i in good]) if good else []
        produce = self.producer.produce
        for i, (label, score) in zip(good, results):
            d = batch[i]
            # The fields of sluice's classify results.
            out = {"id": None if d.id is None else str(d.id), "label": label, "score": round(score, 6),
                   "model": self.model_name, "latency_ms": round((time.monotonic() - d.t0) * 1000, 3)}
            produce(self.args.output, value=json.dumps(out, ensure_ascii=False), key=d.msg.key(),
                    on_delivery=self.on_delivery)
            self.producer.poll(0)
        for d in batch:
            if d.error is None:
                continue
            if not self.args.dead_letters:
                print(f"python_service: skipping offset {d.msg.offset()}: {d.error[1]}", file=sys.stderr)
                continue
            m = d.msg
            headers = [("sluice.error", d.error[0]), ("sluice.error.detail", d.error[1]),
                       ("sluice.source.topic", m.topic()), ("sluice.source.partition", str(m.partition())),
                       ("sluice.source.offset", str(m.offset()))]
            produce(self.args.dead_letters, value=m.value(), key=m.key(), headers=headers,
                    on_delivery=self.on_delivery)
        # Commit after produce: offsets only once every output is acknowledged.
        remaining = self.producer.flush(30)
        if remaining or self.delivery_error is not None:
            raise RuntimeError(f"delivery failed ({remaining} undelivered): {self.delivery_error}")
        last = {}
        for d in batch:
            m = d.msg
            key = (m.topic(), m.partition())
            last[key] = max(last.get(key, -1), m.offset())
        self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                             asynchronous=True)
        self.records += len(batch)

    def warm_up(self):
        self.classify([self.tokenizer.encode("warm up " * n, self.max_length) for n in (1, 8, 30)])

    def run(self):
        self.warm_up()
        self.consumer.subscribe([self.args.input])
        print("ready", flush=True)
        pending = self.prefetch.submit(self.next_batch)
        while True:
            batch, ids = pending.result()
            if self.stop.is_set():
                if batch:
                    self.publish(batch, ids)
                break
            pending = self.prefetch.submit(self.next_batch)  # overlaps the forward pass below
            if batch:
                self.publish(batch, ids)
        self.prefetch.shutdown()
        self.producer.flush(30)
        try:  # everything consumed has been published: commit the positions, synchronously
            self.consumer.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                raise
        self.consumer.close()


def main():
    args = parse_args()
    service = Service(args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop.set())
    t0 = time.monotonic()
    service.run()
    print(f"python_service: {service.records} records in {time.monotonic() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
