#!/usr/bin/python3
"""The GPU check's own tools, on a machine without a GPU (label unit):

- tools/ncu_kernel_table.py sums an ncu CSV per kernel in the CSV's own time
  unit (ncu 2025 writes "ns"; older ones "nsecond"), divides per forward by the
  launches of a named kernel, and refuses a file with no CSV or an unknown unit;
- tools/gpu_check.sh refuses an unknown phase and a GPU_CHECK_BUDGET that is not
  whole seconds (exit 2) before it looks for a GPU;
- bench/encoder/gpu_bench.py's peer runner gives up on a peer that outlasts
  --peer-timeout (the lease-limited GPU call must still print the table).
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TABLE = os.path.join(ROOT, "tools", "ncu_kernel_table.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


HEAD = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream",'
        '"Block Size","Grid Size","Device","CC","gpu__time_duration.sum"')


def row(i, name, t):
    return f'"{i}","1","encoder_bench","h","{name}","1","7","(128,1,1)","(8,1,1)","0","9.0","{t}"'


def csv_file(d, name, unit, times):
    lines = ["==PROF== Connected to process 1", '{"name":"x","tokens_per_s":1}', HEAD,
             '"","","","","","","","","","","",' + f'"{unit}"']
    lines += [row(i, k, t) for i, (k, t) in enumerate(times)]
    p = os.path.join(d, name)
    open(p, "w").write("\n".join(lines) + "\n")
    return p


def table(*args):
    return subprocess.run([sys.executable, TABLE, *args], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as d:
    # Two forwards: embedding once each, a GEMM of 1,100.25 us and 100.25 us (ns in the file).
    times = [("embedding_layernorm_vec8_kernel", "10,000"), ("nvjet_gemm", "1,100,250"),
             ("embedding_layernorm_vec8_kernel", "12,000"), ("nvjet_gemm", "100,250")]
    r = table(csv_file(d, "ns.csv", "ns", times), "--per-launch-of", "embedding_layernorm")
    check(r.returncode == 0, f"ns table exits 0 ({r.stderr.strip()})")
    check("2 kernels, 4 launches, 611.2 us of kernel time per 2" in r.stdout, f"ns totals per forward:\n{r.stdout}")
    lines = [l for l in r.stdout.splitlines() if "nvjet_gemm" in l]
    check(lines and lines[0].split()[:4] == ["98.2%", "600.2", "1.0", "600.2"], f"gemm row: {lines}")

    r = table(csv_file(d, "us.csv", "usecond", [("k", "2.5"), ("k", "3.5")]))
    check(r.returncode == 0 and "1 kernels, 2 launches, 6.0 us" in r.stdout, f"usecond table:\n{r.stdout}{r.stderr}")

    r = table(csv_file(d, "bad.csv", "furlong", [("k", "1")]))
    check(r.returncode != 0 and "unknown time unit" in r.stderr, f"unknown unit refused: {r.stderr}")
    empty = os.path.join(d, "empty.csv")
    open(empty, "w").write("==PROF== no kernels were profiled\n")
    r = table(empty)
    check(r.returncode != 0 and "no ncu CSV header" in r.stderr, f"no CSV refused: {r.stderr}")
    r = table(csv_file(d, "noemb.csv", "ns", [("k", "1")]), "--per-launch-of", "embedding")
    check(r.returncode != 0 and "no kernel named like" in r.stderr, f"missing per-launch kernel: {r.stderr}")

    # gpu_check.sh: bad arguments exit 2 at once (OUT in the scratch folder, nothing built).
    env = dict(os.environ, OUT=os.path.join(d, "gc"))
    r = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "tests", "benchmark"],
                       capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 2 and "unknown phase 'benchmark'" in r.stderr, f"unknown phase: {r.returncode} {r.stderr}")
    env["GPU_CHECK_BUDGET"] = "5m"
    r = subprocess.run(["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "tests"],
                       capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 2 and "GPU_CHECK_BUDGET must be whole seconds" in r.stderr,
          f"bad budget: {r.returncode} {r.stderr}")

# gpu_bench.py: a peer past its timeout is a RuntimeError the caller logs, not a hang.
sys.path.insert(0, os.path.join(ROOT, "bench", "encoder"))
import gpu_bench  # noqa: E402

try:
    gpu_bench.run_json(["sleep", "5"], "slow peer", timeout=0.3)
    check(False, "run_json returned from a peer past its timeout")
except RuntimeError as e:
    check("timed out after" in str(e), f"timeout message: {e}")

if failures:
    sys.exit(1)
print("gpu tools check: ok")
