#!/usr/bin/python3
"""bench/sentiment_pipeline: sluice's whole sentiment pipeline against a Python
Kafka service (python_service.py) doing the same job with the same weights,
both through the embedded broker (`sluice broker`) on the CPU.

For each system, one after the other (never both at once: they would share cores):
  1. saturation: a backlog of M tweets sits in an input topic; the system
     consumes it; throughput = results / (last - first result timestamp), so
     start-up (model load, group join) is not counted. Resident memory is
     sampled from /proc/PID/status during the phase (peak VmRSS) and VmHWM.
  2. offered load at 25 %, 50 %, 75 % of that system's own saturated rate:
     a paced producer writes tweets for D seconds; end-to-end latency per
     record = result's Kafka timestamp - input's Kafka timestamp (both
     CreateTime, stamped by the producers on this machine), p50 and p99.
  3. python only: the same loads as offered to sluice, where they are below
     python's saturated rate (above it, latency grows without bound).
With --repeat R every phase runs R times and the table shows medians (peak
RSS: the worst run). Prints the table with sluice/Python ratios and saves
bench/results/sentiment_pipeline.{json,png}.

    /usr/bin/python3 bench/sentiment/run.py --quick          # ~2-3 minutes
    /usr/bin/python3 bench/sentiment/run.py                  # full (all 12,284 tweets)
    /usr/bin/python3 bench/sentiment/run.py --systems python # the peer alone

Input records are JSON {"id", "text", "brand"} with a synthetic brand; keys are
the brand. Tweets come from ../shared/data/tweeteval-sentiment/test_text.txt
(or --tweets FILE).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BRANDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"]
FRACTIONS = (0.25, 0.5, 0.75)


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small backlog and short phases (~2-3 min)")
    ap.add_argument("--systems", default="sluice,python", help="comma-separated: sluice, python")
    ap.add_argument("--records", type=int, help="saturation backlog (default: quick 2000, full all tweets)")
    ap.add_argument("--load-seconds", type=float, help="length of each offered-load phase (quick 8, full 30)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="compute threads for both systems")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build", "release", "sluice"), help="sluice binary")
    ap.add_argument("--broker", help="binary providing `broker` (default: --sluice)")
    ap.add_argument("--pipeline", default=os.path.join(ROOT, "pipelines", "sentiment.yaml"))
    ap.add_argument("--sluice-set", action="append", default=[], help="extra --set for sluice run (repeatable)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "sentiment-tweet-small"))
    ap.add_argument("--tweets", default=os.path.join(ROOT, "..", "shared", "data", "tweeteval-sentiment",
                                                     "test_text.txt"))
    ap.add_argument("--repeat", type=int, default=1, help="runs of every phase; the table shows medians")
    ap.add_argument("--python-batch", type=int, default=64, help="python service --batch-size")
    ap.add_argument("--fetch-wait-ms", type=int, default=10,
                    help="consumer fetch.wait.max.ms for both systems: the embedded (mock) broker holds "
                         "every fetch this long even when data is waiting, so the default 500 ms would "
                         "dominate latency")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--timeout", type=float, default=900, help="longest wait for one phase's results (s)")
    return ap.parse_args()


# ---- processes -----------------------------------------------------------------

def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB, or (0, 0) if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0, 0


class Broker:
    def __init__(self, binary, topics, partitions):
        args = [binary, "broker"]
        for t in topics:
            args += ["--topic", f"{t}:{partitions}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{binary} broker printed no address (exit {self.proc.poll()})")
        self.bootstrap = line

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class System:
    """One system under test: start(in, out, group) → process; stop()."""

    def __init__(self, name, args, bootstrap):
        self.name, self.args, self.bootstrap = name, args, bootstrap
        self.proc = None
        self.log_path = None

    def start(self, topic_in, topic_out, group):
        a = self.args
        self.log_path = os.path.join(a.out, f"sentiment_pipeline.{self.name}.log")
        logf = open(self.log_path, "a")
        logf.write(f"\n==== {topic_in} -> {topic_out}\n")
        logf.flush()
        if self.name == "python":
            cmd = ["/usr/bin/python3", os.path.join(HERE, "python_service.py"), "--bootstrap", self.bootstrap,
                   "--input", topic_in, "--output", topic_out, "--group", group, "--model", a.model,
                   "--threads", str(a.threads), "--batch-size", str(a.python_batch),
                   "--consumer-property", f"fetch.wait.max.ms={a.fetch_wait_ms}"]
            env = dict(os.environ)
        else:
            cmd = [a.sluice, "run", a.pipeline, "--set", "metrics.enabled=false"]
            for s in a.sluice_set:
                cmd += ["--set", s]
            env = dict(os.environ, SLUICE_BOOTSTRAP=self.bootstrap, SLUICE_INPUT_TOPIC=topic_in,
                       SLUICE_OUTPUT_TOPIC=topic_out, SLUICE_GROUP=group,
                       SLUICE_AGGREGATES_TOPIC=topic_out + "-agg", SLUICE_DLQ_TOPIC=topic_out + "-dlq",
                       SLUICE_MODEL=a.model, SLUICE_THREADS=str(a.threads),
                       SLUICE_FETCH_WAIT_MAX_MS=str(a.fetch_wait_ms))
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")


# ---- Kafka helpers ----------------------------------------------------------------

def make_records(tweets, prefix, n, start=0):
    for i in range(start, start + n):
        brand = BRANDS[(i * 7 + 3) % len(BRANDS)]
        value = json.dumps({"id": f"{prefix}-{i}", "text": tweets[i % len(tweets)], "brand": brand},
                           ensure_ascii=False)
        yield brand, value


def preload(bootstrap, topic, records):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    n = 0
    for key, value in records:
        while True:
            try:
                p.produce(topic, value=value, key=key)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
    if p.flush(60):
        raise RuntimeError(f"preload of {topic} did not finish")
    return n


class TopicReader:
    """Reads a topic from the beginning: {id: Kafka timestamp ms}."""

    def __init__(self, bootstrap, topic, partitions):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{uuid.uuid4()}",
                           "enable.auto.commit": False, "fetch.wait.max.ms": 20})
        self.c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.seen = {}
        self.bad = 0

    def poll(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for m in self.c.consume(num_messages=10_000, timeout=0.05):
                if m.error():
                    continue
                try:
                    rid = json.loads(m.value())["id"]
                except (ValueError, KeyError, TypeError):
                    self.bad += 1
                    continue
                self.seen.setdefault(rid, m.timestamp()[1])

    def wait_for(self, ids_prefix, n, timeout, alive):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.poll(0.5)
            if sum(1 for k in self.seen if k.startswith(ids_prefix)) >= n:
                return True
            alive()
        return False

    def close(self):
        self.c.close()


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ---- phases ---------------------------------------------------------------------

def saturation(system, bootstrap, args, t_in, t_out):
    """Rate (records/s) of a system draining a backlog, and its memory."""
    log(f"{system.name}: saturation on {args.records} records")
    proc = system.start(t_in, t_out, f"{system.name}-{t_out}")
    reader = TopicReader(bootstrap, t_out, args.partitions)
    peak_rss = 0
    end = time.monotonic() + args.timeout
    try:
        while len(reader.seen) < args.records:
            if time.monotonic() > end:
                raise RuntimeError(f"{system.name}: only {len(reader.seen)}/{args.records} results in time")
            reader.poll(0.25)
            peak_rss = max(peak_rss, rss_kib(proc.pid)[0])
            system.check_alive()
        hwm = rss_kib(proc.pid)[1]
    finally:
        system.stop()
        reader.close()
    ts = sorted(reader.seen.values())
    first, last = ts[0], ts[-1]
    after_first = sum(1 for t in ts if t > first)
    rate = after_first / ((last - first) / 1000.0) if last > first else float("nan")
    log(f"{system.name}: {rate:.1f} records/s, peak RSS {peak_rss / 1024:.0f} MiB (HWM {hwm / 1024:.0f} MiB)")
    return {"records_per_s": rate, "rss_peak_mib": peak_rss / 1024, "rss_hwm_mib": hwm / 1024,
            "results": len(ts), "span_s": (last - first) / 1000.0}


def load_topics(system_name, label):
    return f"{system_name}-{label}-in", f"{system_name}-{label}-out"


def offered_load(system, bootstrap, args, tweets, rate, label):
    t_in, t_out = load_topics(system.name, label)
    system.start(t_in, t_out, f"{system.name}-{label}")
    reader = TopicReader(bootstrap, t_out, args.partitions)
    inputs = TopicReader(bootstrap, t_in, args.partitions)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    try:
        # Warm-up: the system is up (model loaded, partitions assigned) once these come back.
        for key, value in make_records(tweets, f"warm-{label}", 20):
            p.produce(t_in, value=value, key=key)
        p.flush(10)
        if not reader.wait_for(f"warm-{label}", 20, args.timeout, system.check_alive):
            raise RuntimeError(f"{system.name}: no warm-up results")
        n = int(rate * args.load_seconds)
        log(f"{system.name}: {label}: {rate:.1f} records/s offered for {args.load_seconds:.0f} s ({n} records)")
        records = make_records(tweets, label, n)
        t0 = time.monotonic()
        sent = 0
        while sent < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            while sent < due:
                key, value = next(records)
                p.produce(t_in, value=value, key=key)
                sent += 1
            p.poll(0)
            time.sleep(0.001)
        p.flush(30)
        achieved_in = n / (time.monotonic() - t0)
        if not reader.wait_for(label + "-", n, args.timeout, system.check_alive):
            raise RuntimeError(f"{system.name}: {label}: results missing")
        inputs.poll(1.0)
        while sum(1 for k in inputs.seen if k.startswith(label + "-")) < n:
            inputs.poll(0.5)
    finally:
        system.stop()
        reader.close()
    lat = [reader.seen[k] - inputs.seen[k] for k in reader.seen if k.startswith(label + "-")]
    inputs.close()
    res = {"offered_per_s": rate, "achieved_in_per_s": achieved_in, "records": len(lat),
           "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "max_ms": max(lat),
           "mean_ms": statistics.fmean(lat)}
    log(f"{system.name}: {label}: p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms")
    return res


# ---- report -----------------------------------------------------------------------

def median_of(runs, key):
    vals = [r[key] for r in runs if r[key] == r[key]]  # drop NaN
    return statistics.median(vals) if vals else float("nan")


def summarize(runs_sat, runs_loads):
    """Medians over repeats: saturation fields, and per load p50/p99 etc."""
    sat = {k: median_of(runs_sat, k) for k in runs_sat[0]}
    sat["rss_peak_mib"] = max(r["rss_peak_mib"] for r in runs_sat)  # memory: the worst run
    loads = []
    for runs in runs_loads:
        loads.append({k: median_of(runs, k) for k in runs[0]})
    return {"saturation": sat, "loads": loads}


def fmt_ms(v):
    return f"{v:9.0f}" if v == v else f"{'-':>9}"


def print_table(results, args):
    print(f"\nsentiment pipeline benchmark ({'quick' if args.quick else 'full'}; medians of {args.repeat} "
          f"run(s); {args.threads} compute thread(s) each, {args.records} backlog records, "
          f"{args.load_seconds:.0f} s per load phase, {args.partitions} partitions; embedded broker; "
          f"{os.cpu_count()} cores shared with other work)")
    head = f"{'system':22} {'records/s':>10} {'RSS MiB':>8}"
    for f in FRACTIONS:
        head += f" {'p50@' + str(int(f * 100)) + '%':>9} {'p99@' + str(int(f * 100)) + '%':>9}"
    print(head)
    for name, r in results.items():
        sat = r["saturation"]
        line = f"{name + ' (own rate)':22} {sat['records_per_s']:10.1f} {sat['rss_peak_mib']:8.0f}"
        for load in r["loads"]:
            line += f" {fmt_ms(load['p50_ms'])} {fmt_ms(load['p99_ms'])}"
        print(line)
        if r.get("at_peer_loads"):
            line = f"{name + ' (sluice rate)':22} {'':>10} {'':>8}"
            for load in r["at_peer_loads"]:
                if load is None:
                    line += f" {'overload':>9} {'overload':>9}"
                else:
                    line += f" {fmt_ms(load['p50_ms'])} {fmt_ms(load['p99_ms'])}"
            print(line)
    if "sluice" in results and "python" in results:
        s, p = results["sluice"], results["python"]
        ratio = s["saturation"]["records_per_s"] / p["saturation"]["records_per_s"]
        print(f"saturated throughput sluice/python: {ratio:.2f}x (goal >= 3x)")
        for ls, lp, f in zip(s["loads"], p["loads"], FRACTIONS):
            print(f"p99 at {int(f * 100)}% of each one's saturation: sluice {ls['p99_ms']:.0f} ms at "
                  f"{ls['offered_per_s']:.0f}/s, python {lp['p99_ms']:.0f} ms at {lp['offered_per_s']:.0f}/s")
        print(f"RSS at saturation (peak): sluice {s['saturation']['rss_peak_mib']:.0f} MiB (must stay < 1024), "
              f"python {p['saturation']['rss_peak_mib']:.0f} MiB")
    print("latency: ms from the input's Kafka timestamp to the result's Kafka timestamp (both CreateTime)")
    print("'sluice rate' rows: python under the loads offered to sluice; 'overload' where that is above "
          "python's saturated rate (latency would grow without bound)")


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {"sluice": "tab:blue", "python": "tab:orange"}
    for name, r in results.items():
        loads = sorted([x for x in r["loads"] + (r.get("at_peer_loads") or []) if x is not None],
                       key=lambda x: x["offered_per_s"])
        xs = [load["offered_per_s"] for load in loads]
        c = colors.get(name, None)
        ax.plot(xs, [load["p50_ms"] for load in loads], "o-", color=c, label=f"{name} p50")
        ax.plot(xs, [load["p99_ms"] for load in loads], "s--", color=c, label=f"{name} p99")
        ax.axvline(r["saturation"]["records_per_s"], color=c, alpha=0.4, linestyle=":",
                   label=f"{name} saturation {r['saturation']['records_per_s']:.0f}/s")
    ax.set_xlabel("offered load (records/s)")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_yscale("log")
    ax.set_title("sentiment pipeline: latency vs throughput (embedded broker, CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    if args.records is None:
        args.records = 2000 if args.quick else 0
    if args.load_seconds is None:
        args.load_seconds = 8.0 if args.quick else 30.0
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ("sluice", "python"):
            sys.exit(f"unknown system {s!r}")
    if not os.path.exists(args.tweets):
        sys.exit(f"no tweets at {args.tweets} (TweetEval test_text.txt): pass --tweets FILE")
    if not os.path.exists(os.path.join(args.model, "config.json")):
        sys.exit(f"no model at {args.model}: pass --model DIR")
    if "sluice" in systems and not os.path.exists(args.pipeline):
        sys.exit(f"no pipeline at {args.pipeline}")
    with open(args.tweets, encoding="utf-8") as f:
        tweets = [line.rstrip("\n") for line in f if line.strip()]
    if args.records == 0:
        args.records = len(tweets)
    os.makedirs(args.out, exist_ok=True)
    for s in systems:
        try:
            os.remove(os.path.join(args.out, f"sentiment_pipeline.{s}.log"))
        except FileNotFoundError:
            pass

    pct = [int(f * 100) for f in FRACTIONS]
    topics = ["sat-in"]
    for name in systems:
        for r in range(args.repeat):
            topics.append(f"{name}-sat-out-r{r}")
            for p in pct:
                topics += list(load_topics(name, f"load{p}-r{r}"))
                if name == "python" and "sluice" in systems:
                    topics += list(load_topics(name, f"sluiceload{p}-r{r}"))
    broker = Broker(args.broker or args.sluice, topics, args.partitions)
    log(f"broker at {broker.bootstrap}")
    results = {}
    try:
        n = preload(broker.bootstrap, "sat-in", make_records(tweets, "sat", args.records))
        log(f"loaded {n} tweets into sat-in")
        for name in systems:  # sluice first: python is also measured under sluice's loads
            system = System(name, args, broker.bootstrap)
            sats = [saturation(system, broker.bootstrap, args, "sat-in", f"{name}-sat-out-r{r}")
                    for r in range(args.repeat)]
            rate = statistics.median(s["records_per_s"] for s in sats)
            loads = [[offered_load(system, broker.bootstrap, args, tweets, f * rate, f"load{p}-r{r}")
                      for r in range(args.repeat)] for f, p in zip(FRACTIONS, pct)]
            results[name] = summarize(sats, loads)
            if name == "python" and "sluice" in results:
                peer = results["sluice"]["saturation"]["records_per_s"]
                at_peer = []
                for f, p in zip(FRACTIONS, pct):
                    if f * peer >= 0.95 * rate:
                        log(f"python: {f * peer:.1f} records/s (sluice's {p}%) is beyond python's saturation")
                        at_peer.append(None)
                        continue
                    runs = [offered_load(system, broker.bootstrap, args, tweets, f * peer, f"sluiceload{p}-r{r}")
                            for r in range(args.repeat)]
                    at_peer.append({k: median_of(runs, k) for k in runs[0]})
                results[name]["at_peer_loads"] = at_peer
    finally:
        broker.stop()

    print_table(results, args)
    doc = {"mode": "quick" if args.quick else "full", "repeat": args.repeat, "threads": args.threads,
           "records": args.records, "cpus": os.cpu_count(),
           "load_seconds": args.load_seconds, "partitions": args.partitions, "model": args.model,
           "fractions": FRACTIONS, "results": results, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with open(os.path.join(args.out, "sentiment_pipeline.json"), "w") as f:
        json.dump(doc, f, indent=2)
    png = os.path.join(args.out, "sentiment_pipeline.png")
    try:
        plot(results, png)
        print(f"saved {png} and sentiment_pipeline.json")
    except ImportError:  # matplotlib is not among the project's packages
        print("saved sentiment_pipeline.json (no matplotlib: no plot)")


if __name__ == "__main__":
    main()
