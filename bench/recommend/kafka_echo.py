#!/usr/bin/python3
"""Kafka's own part of an event->answer latency: a consumer that answers
each event at once, computing nothing, through the same client library as
bench/recommend/python_service.py. bench/recommend/pipeline_run.py --floor
runs it beside the two services: no service can answer faster through the
same broker, so its p99 bounds the p99 ratio any service can reach there.

    /usr/bin/python3 bench/recommend/kafka_echo.py --bootstrap HOST:PORT --input events --output answers --group echo
"""
import argparse
import signal

from confluent_kafka import Consumer, Producer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--fetch-wait-ms", type=int, default=10)
    args = ap.parse_args()
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": args.fetch_wait_ms})
    # No linger: each answer is sent as soon as it is produced.
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 0})
    consumer.subscribe([args.input])
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop:
        msg = consumer.poll(0.1)
        if msg is None or msg.error():
            continue
        producer.produce(args.output, key=msg.key(), value=b'{"event_offset":%d,"latency_ms":0}' % msg.offset())
        producer.poll(0)
    producer.flush(10)
    consumer.close()


if __name__ == "__main__":
    main()
