#!/usr/bin/python3
"""Recommendations as a Python Kafka service: the peer that
bench/recommend/pipeline_run.py measures pipelines/recommend.yaml against.

What a competent Python engineer would deploy instead of sluice, computing
the same model's recommendations:

    consume a batch (up to --batch-size events or --batch-timeout-ms)
      -> decode JSON {"user","item","ts"}; update the user's state exactly as
         recommend_state does (last history_length known items, seen set of at
         most max_seen, oldest dropped first)
      -> user vectors u = sum of age-weighted item factors; one numpy GEMM
         U @ P.T + b for the batch (cold users: the popularity order), seen
         items -inf, argpartition top-K, sorted
      -> produce {"user","items","scores","model","event_offset","latency_ms"}
         keyed by user; flush; commit the batch's offsets (at-least-once)

    /usr/bin/python3 bench/recommend/python_service.py --bootstrap HOST:PORT \\
        --input events --output recs --group py --model models/recommend-ml-small --threads 2
"""

import argparse
import json
import os
import signal
import sys
import time


def _threads(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
    return str(os.cpu_count())


os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads(sys.argv))

import numpy as np  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import safetensors_io  # noqa: E402


class Model:
    def __init__(self, path):
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        w = safetensors_io.read(os.path.join(path, "model.safetensors"))
        self.q = np.ascontiguousarray(w["user_item_embeddings"], np.float32)
        self.p = np.ascontiguousarray(w["item_embeddings"], np.float32)
        self.b = np.ascontiguousarray(w["item_bias"], np.float32)
        self.w = np.ascontiguousarray(w["age_weights"], np.float32)
        with open(os.path.join(path, self.config.get("item_ids_file", "item_ids.json"))) as f:
            self.ids = json.load(f)
        self.index = {x: i for i, x in enumerate(self.ids)}
        n = len(self.ids)
        self.popularity = np.arange(n, 0, -1, dtype=np.float32)
        self.name = os.path.basename(os.path.normpath(path))
        self.history = self.config["history_length"]
        self.max_seen = self.config["max_seen"]


def recommend(m, state, events, k):
    """(user, result) per event (user, item, offset), in order, updating
    `state` (user -> (recent oldest first, seen in insertion order, seen set))."""
    rows, users, seens, offsets = [], [], [], []
    for user, item, offset in events:
        recent, order, seen = state.setdefault(user, ([], [], set()))
        i = m.index.get(item)
        if i is not None:
            if i in recent:
                recent.remove(i)
            recent.append(i)
            if len(recent) > m.history:
                del recent[0]
            if i not in seen:
                if len(order) >= m.max_seen:
                    seen.discard(order.pop(0))
                order.append(i)
                seen.add(i)
        u = np.zeros(m.q.shape[1], np.float32)
        for j, h in enumerate(recent):
            u += m.w[len(recent) - 1 - j] * m.q[h]
        rows.append((u, bool(recent)))
        users.append(user)
        seens.append(list(seen))
        offsets.append(offset)
    if not rows:
        return []
    U = np.stack([r[0] for r in rows])
    scores = U @ m.p.T + m.b
    out = []
    for r, (_, warm) in enumerate(rows):
        if not warm:
            scores[r] = m.popularity
        if seens[r]:
            scores[r, seens[r]] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    for r in range(len(rows)):
        t = top[r][np.lexsort((top[r], -scores[r, top[r]]))]
        t = t[np.isfinite(scores[r, t])]
        out.append((users[r], {"user": users[r], "items": [m.ids[x] for x in t],
                               "scores": [float(scores[r, x]) for x in t], "model": m.name,
                               "event_offset": offsets[r]}))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--batch-timeout-ms", type=int, default=2)
    ap.add_argument("--fetch-wait-ms", type=int, default=10,
                    help="fetch.wait.max.ms (the embedded broker holds each fetch this long)")
    args = ap.parse_args()
    m = Model(args.model)
    k = args.k
    state = {}  # user -> (recent list oldest first, seen list in insertion order, seen set)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.wait.max.ms": args.fetch_wait_ms})
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5})
    consumer.subscribe([args.input])
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    while not stop:
        msgs = consumer.consume(args.batch_size, timeout=args.batch_timeout_ms / 1000)
        if not msgs:
            continue
        read_at = time.time()
        events = []
        for msg in msgs:
            if msg.error():
                continue
            try:
                ev = json.loads(msg.value())
                events.append((str(ev["user"]), str(ev["item"]), msg.offset()))
            except (ValueError, KeyError, TypeError):
                continue  # a dead letter in sluice; not part of the benchmark's input
        for user, out in recommend(m, state, events, k):
            # Read -> result produced, as sluice's latency_ms (taken here, after
            # the batch's scoring, not before it).
            out["latency_ms"] = (time.time() - read_at) * 1000
            producer.produce(args.output, key=user, value=json.dumps(out))
        producer.flush()
        consumer.commit(asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    main()
