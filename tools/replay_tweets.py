#!/usr/bin/python3
"""Replays tweets into a Kafka topic as a paced stream of JSON records:

    key = brand, value = {"id": "t17", "text": "...", "brand": "globex"}

at --rate records per second (0 = as fast as possible), looping over the file
until --count records (0 = until stopped by SIGINT/SIGTERM). The brand is
synthetic (the data sets have none): a fixed, skewed assignment over a few
brands, so that windows and top-K gauges have something to show. Each record's
Kafka timestamp is the moment it is produced, so end-to-end latency is
measured from there.

    /usr/bin/python3 tools/replay_tweets.py --bootstrap 127.0.0.1:PORT --topic tweets \\
        --file ../shared/data/tweeteval-sentiment/test_text.txt --rate 50

Needs python3-confluent-kafka (kcat -P batches its whole stdin before
producing, so it cannot pace a stream).
"""

import argparse
import json
import signal
import sys
import time

# Skewed on purpose: a few brands get most of the traffic, as in real streams.
BRANDS = ["acme"] * 4 + ["globex"] * 3 + ["initech"] * 2 + ["umbrella", "hooli", "stark", "wayne"]


def brand_of(i):
    return BRANDS[(i * 7919) % len(BRANDS)]


def main():
    # Imported here so that brand_of() serves tools/alert_thresholds.py without Kafka.
    from confluent_kafka import Producer

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--file", required=True, help="one tweet per line")
    ap.add_argument("--rate", type=float, default=50.0, help="records per second; 0 = unpaced")
    ap.add_argument("--count", type=int, default=0, help="records to produce; 0 = until stopped")
    ap.add_argument("--id-prefix", default="t")
    args = ap.parse_args()

    with open(args.file, encoding="utf-8", errors="replace") as f:
        tweets = [line.rstrip("\n") for line in f if line.strip()]
    if not tweets:
        sys.exit(f"replay_tweets: no tweets in {args.file}")

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    failed = []
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 1})

    def on_delivery(err, _msg):
        if err is not None and not failed:
            failed.append(err)

    t0 = time.monotonic()
    i = 0
    while not stop and not failed and (args.count == 0 or i < args.count):
        due = i + 1000 if args.rate <= 0 else int((time.monotonic() - t0) * args.rate) + 1
        if args.count:
            due = min(due, args.count)
        while i < due:
            doc = {"id": f"{args.id_prefix}{i}", "text": tweets[i % len(tweets)], "brand": brand_of(i)}
            try:
                producer.produce(args.topic, key=doc["brand"], value=json.dumps(doc, ensure_ascii=False),
                                 on_delivery=on_delivery)
            except BufferError:
                producer.poll(0.05)
                continue
            i += 1
        producer.poll(0)
        if args.rate > 0:
            time.sleep(min(0.02, max(0.001, 1.0 / args.rate)))
    left = producer.flush(10)
    if failed or left:
        sys.exit(f"replay_tweets: delivery failed: {failed[0] if failed else f'{left} undelivered'}")
    print(f"replay_tweets: produced {i} records in {time.monotonic() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
