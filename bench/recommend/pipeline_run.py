#!/usr/bin/python3
"""The whole recommendation pipeline against a Python service, in the same
run, on the embedded broker: pipelines/recommend.yaml (sluice run) and
bench/recommend/python_service.py (confluent-kafka + numpy, the same model's
recommendations), each fed the same MovieLens events (time order, keyed by
user) from a topic already full, saturated. Prints events/s of each and the
ratio, and checks that the Python service's code gives the same top-10 as
`sluice recommend` on the first --check events.

    /usr/bin/python3 bench/recommend/pipeline_run.py --sluice build/release/sluice
    ... --events 50000   fewer events (default: all of ml-latest-small, 100,004)
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def count(bootstrap, topic, parts):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "counter"})
    n = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(parts))
    c.close()
    return n


def wait_for(bootstrap, topic, n, proc, timeout=600):
    """(seconds from 10 % to all n, seconds to all n) of `topic`'s growth."""
    t0 = time.time()
    t10 = None
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"{proc.args[:2]} exited with {proc.returncode}")
        have = count(bootstrap, topic, 4)
        now = time.time()
        if t10 is None and have >= n // 10:
            t10, n10 = now, have
        if have >= n:
            if now - t10 < 1:
                sys.exit(f"{topic}: done within one poll; use more --events for a rate")
            return (n - n10) / (now - t10), now - t0
        time.sleep(0.1)
    sys.exit(f"{topic}: timed out")


def same_recommendations(sluice, model, rows):
    """How many of `rows`' events get the same top-10 from the Python
    service's code (python_service.recommend, batches of 256) as from
    `sluice recommend` on the same events in the same order."""
    sys.path.insert(0, os.path.join(ROOT, "bench", "recommend"))
    import python_service
    m = python_service.Model(model)
    events = "".join(json.dumps({"user": int(u), "item": int(i), "ts": t}) + "\n" for t, _, u, i in rows)
    p = subprocess.run([sluice, "recommend", "--model", model, "--k", "10"], input=events.encode(),
                       capture_output=True, check=True)
    ours = [json.loads(line)["items"] for line in p.stdout.decode().splitlines()]
    state, theirs = {}, []
    for j in range(0, len(rows), 256):
        theirs += [r["items"] for _, r in python_service.recommend(
            m, state, [(u, i, 0) for _, _, u, i in rows[j:j + 256]], 10)]
    return sum(a == b for a, b in zip(ours, theirs)), len(rows)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "recommend-ml-small"))
    ap.add_argument("--ratings", default=os.path.join(ROOT, "..", "shared", "data",
                                                      "movielens-latest-small", "ratings.csv"))
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", type=int, default=5000, help="events whose recommendations are compared")
    args = ap.parse_args()
    if not os.path.exists(args.ratings):
        print(f"no ratings at {args.ratings}")
        sys.exit(77)
    rows = []
    with open(args.ratings) as f:
        next(f)
        for k, line in enumerate(f):
            u, i, r, t = line.strip().split(",")[:4]
            rows.append((int(t), k, u, i))
    rows.sort()
    if args.events:
        rows = rows[: args.events]
    n = len(rows)

    work = tempfile.mkdtemp(prefix="sluice-recommend-bench.")
    broker = subprocess.Popen([args.sluice, "broker", "--topic", "events:4", "--topic", "recs-sluice:4",
                               "--topic", "recs-python:4", "--topic", "dlq:1",
                               # users' durable state (the embedded broker creates no topics on request)
                               "--topic", "bench-sluice-state-changelog:4"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "broker.log"), "w"),
                              text=True)
    bootstrap = broker.stdout.readline().strip()
    try:
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
        for t, _, u, i in rows:
            while True:
                try:
                    p.produce("events", key=u, value=json.dumps({"user": int(u), "item": int(i), "ts": t}))
                    break
                except BufferError:
                    p.poll(0.05)
        p.flush(60)
        print(f"{n} events in topic 'events' (4 partitions)", flush=True)

        env = dict(os.environ, SLUICE_BOOTSTRAP=bootstrap, SLUICE_INPUT_TOPIC="events",
                   SLUICE_OUTPUT_TOPIC="recs-sluice", SLUICE_DLQ_TOPIC="dlq", SLUICE_GROUP="bench-sluice",
                   SLUICE_MODEL=args.model, SLUICE_DEVICE="cpu", SLUICE_THREADS=str(args.threads),
                   SLUICE_FETCH_WAIT_MAX_MS="10", SLUICE_METRICS_LISTEN=f"127.0.0.1:{free_port()}")
        s = subprocess.Popen([args.sluice, "run", os.path.join(ROOT, "pipelines", "recommend.yaml")],
                             env=env, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(work, "sluice.log"), "w"))
        s_rate, s_total = wait_for(bootstrap, "recs-sluice", n, s)
        stop(s)
        print(f"sluice: {s_rate:,.0f} events/s saturated (all {n} in {s_total:.1f} s with start-up)",
              flush=True)

        py = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "bench", "recommend", "python_service.py"),
                               "--bootstrap", bootstrap, "--input", "events", "--output", "recs-python",
                               "--group", "bench-python", "--model", args.model,
                               "--threads", str(args.threads)],
                              stderr=open(os.path.join(work, "python.log"), "w"))
        p_rate, p_total = wait_for(bootstrap, "recs-python", n, py)
        stop(py)
        print(f"python: {p_rate:,.0f} events/s saturated (all {n} in {p_total:.1f} s with start-up)",
              flush=True)

        same, checked = same_recommendations(args.sluice, args.model, rows[:args.check])
        print(f"ratio {s_rate / p_rate:.1f}x; the Python service's code gives the same top-10 as "
              f"sluice recommend for {same}/{checked} events")
        if same != checked:
            sys.exit("the peer does not compute the same recommendations")
    finally:
        broker.terminate()
        broker.wait(30)


if __name__ == "__main__":
    main()
