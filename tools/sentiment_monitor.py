#!/usr/bin/python3
"""Live view of a running sentiment pipeline, for the demo: reads the input,
results, aggregates and alerts topics from the beginning and prints

  - a few sample results (label, score, brand, the tweet),
  - every --interval seconds: results/s, end-to-end latency p50/p99 (result's
    Kafka timestamp - input's Kafka timestamp), label counts, windows, alerts,
  - each closed window and alert as it arrives (compactly),
  - on SIGINT/SIGTERM (or after --seconds): a final summary, plus the
    sluice_sentiment_* lines of the metrics endpoint.

    /usr/bin/python3 tools/sentiment_monitor.py --bootstrap 127.0.0.1:PORT \\
        --metrics-url http://127.0.0.1:9464/metrics
"""

import argparse
import json
import signal
import sys
import time
import urllib.request

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def short(text, n=70):
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class Monitor:
    def __init__(self, args):
        self.args = args
        self.c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "sentiment-demo-monitor",
                           "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        self.topics = {args.input: "input", args.results: "result", args.aggregates: "aggregate",
                       args.alerts: "alert"}
        meta = self.c.list_topics(timeout=10)
        parts = []
        for t in self.topics:
            if t in meta.topics:
                parts += [TopicPartition(t, p, OFFSET_BEGINNING) for p in meta.topics[t].partitions]
        self.c.assign(parts)
        self.inputs = {}  # id → (ts, text, brand) for results not seen yet
        self.pending = {}  # id → (label, score, ts) for results whose input is not read yet
        self.latencies = []  # all, ms
        self.window_lat = []  # since the last report
        self.labels = {}
        self.results = self.windows = self.alerts = self.samples = 0
        self.t_start = time.monotonic()
        self.last_report = (self.t_start, 0)

    def on_input(self, m):
        try:
            doc = json.loads(m.value())
        except ValueError:
            return
        rid = str(doc.get("id"))
        ts = m.timestamp()[1]
        if rid in self.pending:
            label, score, out_ts = self.pending.pop(rid)
            self.matched(out_ts - ts, label, score, doc.get("brand"), doc.get("text", ""))
        else:
            self.inputs[rid] = (ts, doc.get("text", ""), doc.get("brand"))

    def on_result(self, m):
        try:
            r = json.loads(m.value())
        except ValueError:
            return
        self.results += 1
        label = r.get("label")
        self.labels[label] = self.labels.get(label, 0) + 1
        rid = str(r.get("id"))
        ts = m.timestamp()[1]
        if rid in self.inputs:
            in_ts, text, brand = self.inputs.pop(rid)
            self.matched(ts - in_ts, label, r.get("score", 0.0), brand, text)
        else:
            self.pending[rid] = (label, r.get("score", 0.0), ts)

    def matched(self, latency_ms, label, score, brand, text):
        self.latencies.append(latency_ms)
        self.window_lat.append(latency_ms)
        if self.samples < self.args.samples:
            self.samples += 1
            print(f"  sample: {label:>8} {score:.2f}  @{brand or '-':<9} {short(text)}", flush=True)

    def on_aggregate(self, m):
        self.windows += 1
        try:
            a = json.loads(m.value())
        except ValueError:
            return
        if self.args.show_windows:
            end = time.strftime("%H:%M:%S", time.localtime(a["window_end"] / 1000))
            neg = f"negative {100 * a['negative_ratio']:5.1f}%"
            if "negative_ratio_opinionated" in a:
                neg += f" of all, {100 * a['negative_ratio_opinionated']:5.1f}% of {a['opinionated']} opinionated"
            print(f"  window ..{end} {a['key']:<9} {a['count']:4d} records, {neg}, "
                  f"mean score {a['mean_score']:.2f}", flush=True)

    def on_alert(self, m):
        self.alerts += 1
        try:
            a = json.loads(m.value())
            if a.get("over") == "opinionated":
                ratio, n, of = a["negative_ratio_opinionated"], a["opinionated"], "opinionated records"
            else:
                ratio, n, of = a["negative_ratio"], a["count"], "records"
            print(f"  ALERT: {a['key']}: {100 * ratio:.0f}% negative over {n} {of} "
                  f"(threshold {100 * a['threshold']:.0f}%)", flush=True)
        except (ValueError, KeyError):
            pass

    def poll(self, seconds):
        end = time.monotonic() + seconds
        handlers = {"input": self.on_input, "result": self.on_result, "aggregate": self.on_aggregate,
                    "alert": self.on_alert}
        while time.monotonic() < end:
            for m in self.c.consume(num_messages=5000, timeout=0.1):
                if m.error() is None:
                    handlers[self.topics[m.topic()]](m)

    def report(self):
        now = time.monotonic()
        t0, n0 = self.last_report
        rate = (self.results - n0) / max(now - t0, 1e-9)
        self.last_report = (now, self.results)
        lat = self.window_lat
        self.window_lat = []
        labels = ", ".join(f"{k} {v}" for k, v in sorted(self.labels.items(), key=lambda kv: str(kv[0])))
        ms = (lambda q: f"{percentile(lat, q):5.0f}") if lat else (lambda q: "    -")
        print(f"[{now - self.t_start:5.0f}s] {rate:7.1f} results/s | e2e p50 {ms(0.5)} ms "
              f"p99 {ms(0.99)} ms | {labels or 'no results yet'} | windows {self.windows}, "
              f"alerts {self.alerts}", flush=True)

    def final(self):
        secs = time.monotonic() - self.t_start
        print("\n== summary ==")
        print(f"results: {self.results} in {secs:.0f} s ({self.results / max(secs, 1e-9):.1f}/s overall)")
        print(f"end-to-end latency: p50 {percentile(self.latencies, 0.5):.0f} ms, p99 "
              f"{percentile(self.latencies, 0.99):.0f} ms over {len(self.latencies)} records")
        total = sum(self.labels.values()) or 1
        for k, v in sorted(self.labels.items(), key=lambda kv: -kv[1]):
            print(f"  {k:>10}: {v:6d} ({100 * v / total:.1f}%)")
        print(f"windows closed: {self.windows}, alerts: {self.alerts}")
        if self.args.metrics_url:
            try:
                text = urllib.request.urlopen(self.args.metrics_url, timeout=2).read().decode()
                lines = [ln for ln in text.splitlines() if ln.startswith("sluice_sentiment_negative_ratio")
                         or ln.startswith("sluice_sentiment_alerting")]
                print(f"metrics ({self.args.metrics_url}), last closed window per key:")
                for ln in lines[:24]:
                    print("  " + ln)
            except OSError as e:
                print(f"metrics endpoint not reachable: {e}")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", default="tweets")
    ap.add_argument("--results", default="sentiment-results")
    ap.add_argument("--aggregates", default="sentiment-aggregates")
    ap.add_argument("--alerts", default="sentiment-alerts")
    ap.add_argument("--metrics-url", default="")
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--show-windows", action="store_true", help="print every closed window")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0 = until a signal)")
    args = ap.parse_args()

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    mon = Monitor(args)
    end = time.monotonic() + args.seconds if args.seconds > 0 else float("inf")
    while not stop and time.monotonic() < end:
        mon.poll(args.interval)
        mon.report()
    mon.poll(1.0)  # what the pipeline flushed while stopping
    mon.final()
    mon.c.close()


if __name__ == "__main__":
    main()
