#!/usr/bin/python3
"""The whole recommendation pipeline against a Python service, in the same
run, on the embedded broker: pipelines/recommend.yaml (sluice run) and
bench/recommend/python_service.py (confluent-kafka + numpy, the same model's
recommendations), each fed the same MovieLens events (time order, keyed by
user) from a topic already full, saturated. Prints events/s of each and the
ratio, and checks that the Python service's code gives the same top-10 as
`sluice recommend` on the first --check events.

Then latency under load: each system, started afresh on topics of its own, is
fed events for --seconds by a paced producer in this process, and a consumer
here reads the recommendations as they appear. Both get the same absolute
rate, --load (default 0.5) of the Python service's saturated rate measured
above (--rate R: both at R events/s; --own-load: each at --load of its own
saturated rate, which on a shared 2-core machine the driver here may not
sustain for sluice).
Event→recommendation latency is the time from handing the event to the
producer to reading its recommendation (both clocks here: broker hops
included, the same for both). Prints p50/p99/p99.9 of each and the ratio of
the p99s, where the time went (event produced -> read by the service, the
service's own part as its results' latency_ms say, result produced -> read
here, from the result's CreateTime), and the CPU each process used meanwhile.
sluice keeps users' state durable (a changelog entry per event); the Python
service keeps it in memory only.

Kafka's own part, in the same run: bench/recommend/kafka_echo.py answers
each event the moment it reads it, computing nothing, at the Python
service's rate. No service can have a lower p99 through this broker,
producer and reader, so python p99 / echo p99 is the highest ratio any
service could reach here; each service's p99 above the echo's is the part it
adds. The loaded runs go in --repeat rounds (sluice, python, echo in each,
every run on topics of its own); the ratios are of the medians.

    /usr/bin/python3 bench/recommend/pipeline_run.py --sluice build/release/sluice
    ... --events 50000   fewer events (default: all of ml-latest-small, 100,004)
    ... --rate 2000      both at 2,000 events/s (default: both at --load of the Python service's saturated rate)
    ... --rate 2900 --paced-only   the loaded runs alone
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib

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


def paced(bootstrap, in_topic, out_topic, rows, rate, seconds, linger_ms):
    """Produces events at `rate`/s for `seconds` (the MovieLens events in
    time order, again with new user ids if it runs out), reads the
    recommendations from `out_topic`; returns (sorted latencies in ms, events,
    the highest latency of each second, each latency's parts sorted: "in",
    "service" and "out", see below).
    Light on this process's CPU: partitions are chosen here (a user's events
    to one partition, so an event's offset is its place in its partition: no
    delivery reports), and results are not parsed beyond their offset."""
    n = int(rate * seconds)
    sent = [[] for _ in range(4)]  # per input partition: send time by offset
    got = []                       # (user key, event_offset, time read)
    done = threading.Event()
    offset_re = re.compile(rb'"event_offset": ?(\d+)')
    latency_re = re.compile(rb'"latency_ms": ?([0-9.e+-]+)')

    def read():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency-reader",
                      "fetch.wait.max.ms": 1, "enable.auto.commit": False})
        c.assign([TopicPartition(out_topic, q, OFFSET_BEGINNING) for q in range(4)])
        while not done.is_set():
            # Wait for one, then take what else is already here: consume(n,
            # timeout) alone returns only once n arrived or the timeout passed,
            # which added up to its 50 ms to every latency read.
            first = c.poll(0.05)
            if first is None:
                continue
            t, wall_ms = time.monotonic(), time.time() * 1000
            for m in [first] + c.consume(1000, timeout=0):
                if not m.error():
                    # The service's own latency_ms (read -> result produced) and the
                    # result's CreateTime (set at its produce()) split the latency.
                    v = m.value()
                    got.append((m.key(), int(offset_re.search(v).group(1)), t,
                                float(latency_re.search(v).group(1)), wall_ms - m.timestamp()[1]))
        c.close()

    reader = threading.Thread(target=read)
    reader.start()
    # librdkafka's default linger (5 ms), as an event producer a user runs would
    # have: at 0 every event is its own record batch, and the embedded broker
    # walks a partition's batches to find each fetch's offset, so both
    # services' fetches (sluice's changelog reads and writes most) slowed as
    # the run went on (see --seconds). The send time is taken at produce().
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms})
    # Warm-up: one event per partition every 200 ms until each partition has
    # answered (the service has joined its group and restored its state).
    probes, k = {}, 0
    while len(probes) < 4:
        user = str(10**9 + k).encode()
        probes.setdefault(zlib.crc32(user) % 4, user)
        k += 1
    deadline = time.monotonic() + 120
    while {zlib.crc32(g[0]) % 4 for g in got} != set(range(4)):
        if time.monotonic() > deadline:
            sys.exit(f"{out_topic}: no answer to the warm-up events")
        for part, user in probes.items():
            sent[part].append(time.monotonic())
            p.produce(in_topic, key=user, value=b'{"user":%s,"item":1,"ts":0}' % user, partition=part)
        p.flush(10)
        time.sleep(0.2)
    t0 = time.monotonic()
    for j in range(n):
        cycle, (t, _, u, i) = j // len(rows), rows[j % len(rows)]
        user = str(int(u) + cycle * 10**7).encode()
        part = zlib.crc32(user) % 4
        target = t0 + j / rate
        now = time.monotonic()
        if now < target:
            time.sleep(target - now)
        value = b'{"user":%s,"item":%s,"ts":%d}' % (user, i.encode(), t)
        while True:
            try:
                sent[part].append(time.monotonic())
                p.produce(in_topic, key=user, value=value, partition=part)
                break
            except BufferError:
                sent[part].pop()
                p.poll(0.001)
        if j % 64 == 0:
            p.poll(0)
    p.flush(60)
    behind = time.monotonic() - (t0 + n / rate)
    deadline = time.monotonic() + 120
    total = sum(map(len, sent))  # warm-up events included
    while len(got) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    reader.join()
    if len(got) < total:
        sys.exit(f"{out_topic}: {len(got)} of {total} recommendations")
    if behind > 1:
        print(f"  (the producer fell {behind:.1f} s behind its schedule)")
    warm = seconds / 10  # the first 10 %: warm-up
    lat, worst = [], {}  # worst: second of the run -> its highest latency
    # Each latency in three parts: "in", the event produced -> read by the
    # service (the producer's linger, the broker, the service's fetch);
    # "service", read -> result produced (its latency_ms); "out", result
    # produced -> read here (the service's producer, the broker, this reader).
    split = {"in": [], "service": [], "out": []}
    for user, offset, t, service_ms, out_ms in got:
        s = sent[zlib.crc32(user) % 4][offset]
        if s - t0 >= warm:
            lat.append((t - s) * 1000)
            worst[int(s - t0)] = max(worst.get(int(s - t0), 0), lat[-1])
            split["in"].append(lat[-1] - service_ms - out_ms)
            split["service"].append(service_ms)
            split["out"].append(out_ms)
    lat.sort()
    for v in split.values():
        v.sort()
    return lat, n, [worst[k] for k in sorted(worst)], split


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(lat, q):
    return lat[min(len(lat) - 1, int(q * len(lat)))]


def wait_ready(port, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"{proc.args[:2]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("sluice did not become ready")


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
    ap.add_argument("--load", type=float, default=0.5, help="fraction of the Python service's saturated rate")
    ap.add_argument("--own-load", action="store_true", help="each at --load of its own saturated rate")
    ap.add_argument("--rate", type=float, default=0, help="both at this many events/s instead")
    ap.add_argument("--seconds", type=float, default=20,
                    help="length of each loaded run (the embedded broker, librdkafka 2.0.2's mock, finds a "
                         "fetch's offset by walking the partition's record batches: its fetches, and so "
                         "both services' tails, slow down as the run's topics grow)")
    ap.add_argument("--fetch-wait-ms", type=int, default=5,
                    help="both services' fetch.wait.max.ms (the embedded broker holds each fetch this long)")
    ap.add_argument("--producer-linger-ms", type=float, default=5,
                    help="linger.ms of the paced event producer here")
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip Kafka's own part: an echo that answers each event at once "
                         "(bench/recommend/kafka_echo.py), at the Python service's rate")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the loaded runs (medians reported)")
    ap.add_argument("--only", default="", help="loaded runs of these alone: sluice, python, echo (comma-separated)")
    ap.add_argument("--paced-only", action="store_true", help="skip the saturated runs (needs --rate)")
    args = ap.parse_args()
    if args.paced_only and not args.rate:
        sys.exit("--paced-only needs --rate")
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
    # Each loaded run has topics of its own (the embedded broker walks a
    # partition's batches for every fetch: see --seconds), the sluice runs also
    # their users' durable state (the embedded broker creates no topics on request).
    topics = ["events:4", "recs-sluice:4", "recs-python:4", "dlq:1", "bench-sluice-state-changelog:4"]
    for r in range(args.repeat):
        for who in ("sluice", "python", "echo"):
            topics += [f"paced-{who}-{r}:4", f"out-{who}-{r}:4"]
        topics.append(f"paced-sluice-{r}-state-changelog:4")
    broker = subprocess.Popen([args.sluice, "broker"] + [a for t in topics for a in ("--topic", t)],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "broker.log"), "w"),
                              text=True)
    bootstrap = broker.stdout.readline().strip()
    try:
        env = dict(os.environ, SLUICE_BOOTSTRAP=bootstrap, SLUICE_INPUT_TOPIC="events",
                   SLUICE_OUTPUT_TOPIC="recs-sluice", SLUICE_DLQ_TOPIC="dlq", SLUICE_GROUP="bench-sluice",
                   SLUICE_MODEL=args.model, SLUICE_DEVICE="cpu", SLUICE_THREADS=str(args.threads),
                   SLUICE_FETCH_WAIT_MAX_MS=str(args.fetch_wait_ms),
                   SLUICE_METRICS_LISTEN=f"127.0.0.1:{free_port()}")

        def python_peer(script, source, sink, group, log):
            """bench/recommend/<script> (the Python service, or the echo without
            its model options) between topics source and sink."""
            cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "recommend", script), "--bootstrap", bootstrap,
                   "--input", source, "--output", sink, "--group", group,
                   "--fetch-wait-ms", str(args.fetch_wait_ms)]
            if script == "python_service.py":
                cmd += ["--model", args.model, "--threads", str(args.threads)]
            return subprocess.Popen(cmd, stderr=open(os.path.join(work, log), "w"))

        s_rate = p_rate = None
        if not args.paced_only:
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

            s = subprocess.Popen([args.sluice, "run", os.path.join(ROOT, "pipelines", "recommend.yaml")],
                                 env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "sluice.log"), "w"))
            s_rate, s_total = wait_for(bootstrap, "recs-sluice", n, s)
            stop(s)
            print(f"sluice: {s_rate:,.0f} events/s saturated (all {n} in {s_total:.1f} s with start-up)",
                  flush=True)

            py = python_peer("python_service.py", "events", "recs-python", "bench-python", "python.log")
            p_rate, p_total = wait_for(bootstrap, "recs-python", n, py)
            stop(py)
            print(f"python: {p_rate:,.0f} events/s saturated (all {n} in {p_total:.1f} s with start-up)",
                  flush=True)

            same, checked = same_recommendations(args.sluice, args.model, rows[:args.check])
            print(f"ratio {s_rate / p_rate:.1f}x; the Python service's code gives the same top-10 as "
                  f"sluice recommend for {same}/{checked} events", flush=True)
            if same != checked:
                sys.exit("the peer does not compute the same recommendations")

        # Latency under load, each on topics of its own, started afresh.
        s_load = args.rate or args.load * (s_rate if args.own_load else p_rate)
        p_load = args.rate or args.load * p_rate
        port = free_port()

        def start_sluice(r):
            s = subprocess.Popen([args.sluice, "run", os.path.join(ROOT, "pipelines", "recommend.yaml")],
                                 env=dict(env, SLUICE_INPUT_TOPIC=f"paced-sluice-{r}",
                                          SLUICE_OUTPUT_TOPIC=f"out-sluice-{r}", SLUICE_GROUP=f"paced-sluice-{r}",
                                          SLUICE_METRICS_LISTEN=f"127.0.0.1:{port}"),
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, f"sluice-paced-{r}.log"), "w"))
            wait_ready(port, s)
            time.sleep(2)  # its group join
            return s

        def start_python(r):
            py = python_peer("python_service.py", f"paced-python-{r}", f"out-python-{r}", f"paced-python-{r}",
                             f"python-paced-{r}.log")
            time.sleep(5)  # model load and group join
            return py

        def start_echo(r):
            e = python_peer("kafka_echo.py", f"paced-echo-{r}", f"out-echo-{r}", f"paced-echo-{r}",
                            f"echo-paced-{r}.log")
            time.sleep(3)  # its group join
            return e

        # (name, topics' word, start, rate, saturated rate)
        contenders = [("sluice", "sluice", start_sluice, s_load, s_rate),
                      ("python", "python", start_python, p_load, p_rate)]
        if args.floor:
            contenders.append(("kafka floor", "echo", start_echo, p_load, None))
        if args.only:
            contenders = [c for c in contenders if c[1] in args.only.split(",")]
        p99 = {c[0]: [] for c in contenders}
        # Rounds, each running every contender in turn, so that what else the
        # shared machine does spreads over all of them; medians at the end.
        for r in range(args.repeat):
            for name, word, start, load, sat in contenders:
                proc = start(r)
                before = (cpu_seconds(proc.pid), cpu_seconds(broker.pid), time.process_time(), time.monotonic())
                lat, m, worst, split = paced(bootstrap, f"paced-{word}-{r}", f"out-{word}-{r}", rows, load,
                                             args.seconds, args.producer_linger_ms)
                after = (cpu_seconds(proc.pid), cpu_seconds(broker.pid), time.process_time(), time.monotonic())
                stop(proc)
                p99[name].append(pct(lat, 0.99))
                share = f"{load / sat:.0%} of saturated" if sat else "as --rate" if args.rate else "the Python rate"
                print(f"{name} (round {r + 1}): {load:,.0f} events/s ({share}) for {m / load:.0f} s: "
                      f"event->recommendation p50 {pct(lat, 0.5):.2f} ms, p99 {pct(lat, 0.99):.2f} ms, "
                      f"p99.9 {pct(lat, 0.999):.2f} ms ({len(lat)} after warm-up)")
                # A tail that grows with the run's length is the embedded broker's (see --seconds).
                print(f"  highest latency in each second of the run (ms): {' '.join(f'{w:.0f}' for w in worst)}")
                # Who used the two cores meanwhile: the service, the embedded broker, this
                # script (the paced producer and the latency reader), in cores.
                wall = after[3] - before[3]
                print(f"  CPU while paced, in cores: {name} {(after[0] - before[0]) / wall:.2f}, "
                      f"broker {(after[1] - before[1]) / wall:.2f}, "
                      f"producer + reader {(after[2] - before[2]) / wall:.2f}")
                print("  where the time went, p50 / p99 (ms): " + ", ".join(
                    f"{part} {pct(v, 0.5):.1f} / {pct(v, 0.99):.1f}" for part, v in split.items()), flush=True)
        med = {name: statistics.median(v) for name, v in p99.items()}
        print(f"p99, median of {args.repeat} (ms): " + ", ".join(
            f"{name} {med[name]:.2f} ({' '.join(f'{x:.2f}' for x in v)})" for name, v in p99.items()))
        if "python" not in med or "sluice" not in med:
            return
        print(f"p99 python / sluice: {med['python'] / med['sluice']:.2f}x "
              f"({'each at its own load' if args.own_load else 'both at the same rate'})")
        if "kafka floor" in med:
            # The echo answers each event at once: what is left of a service's
            # p99 above the echo's is the service's own, and the echo's p99 is
            # the lowest any service can have here.
            floor = med["kafka floor"]
            print(f"p99 above the Kafka floor ({floor:.2f} ms), python / sluice: "
                  f"{(med['python'] - floor) / max(med['sluice'] - floor, 0.01):.2f}x "
                  f"({med['python'] - floor:.2f} / {med['sluice'] - floor:.2f} ms); "
                  f"the highest p99 ratio any service could reach against python here: "
                  f"{med['python'] / floor:.2f}x")
    finally:
        broker.terminate()
        broker.wait(30)


if __name__ == "__main__":
    main()
