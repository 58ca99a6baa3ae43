#!/usr/bin/python3
"""The recommendation demo's client (scripts/recommend_demo.sh runs it):
replays the MovieLens events after the model's training cut-off into the
events topic, in time order, keyed by user, at --rate events/s, and reads the
recommendations sluice writes back. Every few seconds it prints a sample
recommendation with movie titles, the live rate, latency (event produced →
recommendation read, p50/p99) and the running HR@10 / NDCG@10 of the stream
(tools/eval_recommender.py's protocol: an event is a hit when its movie is in
the top-10 sluice emitted for that user after the user's previous event, or
the popularity list for a user's first event).

    /usr/bin/python3 tools/recommend_demo.py --bootstrap 127.0.0.1:PORT \\
        --model models/recommend-ml-small --ratings ../shared/data/movielens-latest-small/ratings.csv

Needs python3-confluent-kafka.
"""

import argparse
import csv
import json
import math
import os
import signal
import sys
import time

from confluent_kafka import Consumer, Producer


def percentile(xs, q):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def read_events(path, after):
    """(history, replay): the events up to `after` of the users who appear
    after it, and the events after it; each in time order."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r)
        if header[:4] != ["userId", "movieId", "rating", "timestamp"]:
            sys.exit(f"{path}: not a MovieLens ratings.csv")
        for k, (u, i, rating, ts) in enumerate(row[:4] for row in r):
            rows.append((int(ts), k, u, i, float(rating)))
    rows.sort()
    replay = [e for e in rows if e[0] > after]
    users = {e[2] for e in replay}
    return [e for e in rows if e[0] <= after and e[2] in users], replay


def read_titles(path):
    titles = {}
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                titles[row["movieId"]] = row["title"]
    return titles


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ratings", required=True)
    ap.add_argument("--events-topic", default="events")
    ap.add_argument("--results-topic", default="recommendations")
    ap.add_argument("--rate", type=float, default=200.0, help="events per second; 0 = unpaced")
    ap.add_argument("--count", type=int, default=0, help="events to replay; 0 = all")
    ap.add_argument("--report-every", type=float, default=3.0)
    args = ap.parse_args()

    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.model, "item_ids.json")) as f:
        popular = json.load(f)[:10]
    after = config.get("trained_until") or 0
    history, events = read_events(args.ratings, after)
    if args.count:
        events = events[: args.count]
        users = {e[2] for e in events}
        history = [e for e in history if e[2] in users]
    titles = read_titles(os.path.join(os.path.dirname(args.ratings), "movies.csv"))
    print(f"loading the replayed users' state: their {len(history)} earlier events, unpaced", flush=True)
    print(f"then replaying {len(events)} events after {time.strftime('%Y-%m-%d', time.gmtime(after))} "
          f"(the model's training cut-off) at {args.rate:g}/s", flush=True)

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5})
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"recommend-demo-{os.getpid()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 10})
    consumer.subscribe([args.results_topic])
    # Events in flight per user, in order: (item, produced at). A user's
    # results come back in the order of their events (one partition per user).
    pending = {}

    def send(e, counted):
        ts, _, u, i, rating = e
        value = json.dumps({"user": int(u), "item": int(i), "ts": ts, "rating": rating})
        while True:
            try:
                producer.produce(args.events_topic, key=u, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        pending.setdefault(u, []).append((i, time.time(), counted))

    last_list = {}
    hits = dcg = scored = received = 0
    latencies, recent, inside = [], [], []  # produced → read; sluice's own latency_ms
    for e in history:
        send(e, False)
    producer.flush(30)
    warm = len(history)
    sent, t0 = 0, time.time()
    last_report, last_received = t0, 0
    sample = None

    while not stop:
        now = time.time()
        if warm:  # the history's results first: state is loaded before the replay
            t0 = now
        else:
            due = len(events) if args.rate <= 0 else min(len(events), int((now - t0) * args.rate) + 1)
            while sent < due:
                send(events[sent], True)
                sent += 1
        producer.poll(0)
        for m in consumer.consume(500, timeout=0.002):
            if m.error():
                continue
            r = json.loads(m.value())
            u = r["user"]
            if not pending.get(u):
                continue  # a result of an earlier run
            item, produced, counted = pending[u].pop(0)
            if not counted:
                warm -= 1
                last_list[u] = r["items"]
                if not warm:
                    print("user state loaded; replaying", flush=True)
                continue
            received += 1
            latencies.append((time.time() - produced) * 1000)
            inside.append(r["latency_ms"])
            top = last_list.get(u, popular)
            scored += 1
            if item in top:
                hits += 1
                dcg += 1 / math.log2(top.index(item) + 2)
            last_list[u] = r["items"]
            sample = (u, item, r)
        if not warm and time.time() - last_report >= args.report_every:
            now = time.time()
            rate = (received - last_received) / (now - last_report)
            recent = latencies[last_received:]
            if sample:
                u, item, r = sample
                names = [titles.get(x, x) for x in r["items"][:3]]
                print(f"\n  user {u} rated {titles.get(item, item)!r} → next: " + "; ".join(names))
            print(f"[{now - t0:5.0f} s] sent {sent}, recommendations {received} ({rate:6.0f}/s), "
                  f"latency p50 {percentile(recent, 0.5):5.1f} ms p99 {percentile(recent, 0.99):6.1f} ms "
                  f"(in sluice p99 {percentile(inside[last_received:], 0.99):5.1f} ms), "
                  f"HR@10 {hits / max(scored, 1):.4f} NDCG@10 {dcg / max(scored, 1):.4f} ({hits}/{scored})",
                  flush=True)
            last_report, last_received = now, received
        if sent == len(events) and received >= sent:
            break
    producer.flush(5)
    consumer.close()
    print(f"\nfinal: {received} recommendations for {sent} events; latency p50 "
          f"{percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms (produced → read; "
          f"in sluice, source → sink: p50 {percentile(inside, 0.5):.2f} ms, p99 {percentile(inside, 0.99):.2f} ms); "
          f"running HR@10 {hits / max(scored, 1):.4f}, NDCG@10 {dcg / max(scored, 1):.4f} over {scored} events",
          flush=True)


if __name__ == "__main__":
    main()
