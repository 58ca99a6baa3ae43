#!/usr/bin/env bash
# Brings a fuzzer up to date (normally a no-op: fuzzers are part of the default
# build) and runs it for a bounded time over its seeds. Exit 0: no crash, no
# sanitizer report, no hang, no out-of-memory; anything else fails. The last
# lines give the executions and the run time (libFuzzer's final stats).
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR NAME SECONDS [libFuzzer flags...] [-- SEED_DIR...]
#   tests/fuzz/run_fuzz.sh build/release json_input_fuzz 600     # a longer run, by hand
#
# Seeds: the SEED_DIRs, plus what tests/fuzz/NAME_seeds.py writes (when it
# exists); with no `--`, the seeds named in tests/fuzz/CMakeLists.txt are not
# known, so only the generated ones are used. Crashing inputs are kept in
# BUILD_DIR/tests/fuzz/artifacts/NAME/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) name=$2 seconds=$3
shift 3
flags=() seeds=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; seeds=("$@"); break; fi
  flags+=("$1"); shift
done
cmake --build "$build" --target "$name" --parallel "$(nproc)" >/dev/null
fuzzer=$build/tests/fuzz/bin/$name
[ -x "$fuzzer" ] || { echo "no fuzzer $fuzzer (needs clang-14 and libclang-rt-14-dev)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/generated"
if [ -f "$here/${name}_seeds.py" ]; then
  python3 "$here/${name}_seeds.py" "$work/generated"
fi
artifacts=$build/tests/fuzz/artifacts/$name
mkdir -p "$artifacts"
cd "$work"
start=$(date +%s%N)
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${flags[@]}" \
  corpus generated "${seeds[@]}" 2>"$work/log"
rc=$?
set -e
end=$(date +%s%N)
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo 0)
if [ $rc -ne 0 ]; then
  tail -n 60 "$work/log"
  echo "FUZZ $name: FAILED (exit $rc) after $execs executions; inputs kept in $artifacts"
  exit 1
fi
grep -E '^(stat::|#[0-9]+ *DONE)' "$work/log" || true
ms=$(( (end - start) / 1000000 ))
printf 'FUZZ %s: %s executions in %d.%03d s, corpus %s inputs\n' "$name" "$execs" \
  $((ms / 1000)) $((ms % 1000)) "$(ls corpus | wc -l)"
