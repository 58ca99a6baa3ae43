#!/usr/bin/env bash
# Brings the tokenizer fuzzer up to date (normally a no-op: it is part of the
# default build) and runs it for a bounded time, seeded with the edge cases. Exit 0: no crash, no
# sanitizer report, no hang; anything else fails the ctest test.
#   run_tokenizer_fuzz.sh BUILD_DIR FUZZER SECONDS FIXTURES_DIR
set -euo pipefail
build=$1 fuzzer=$2 seconds=$3 fixtures=$4
cmake --build "$build" --target tokenizer_fuzz --parallel "$(nproc)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/seeds"
# One seed per edge case (option byte 0 and 1: both tokenizers), plus invalid UTF-8.
python3 - "$fixtures/edge_cases.jsonl" "$work/seeds" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    text = json.loads(line)["text"].encode("utf-8", "surrogatepass")
    for sel in (0, 1):
        open(f"{sys.argv[2]}/edge{i:03d}_{sel}", "wb").write(bytes([sel]) + text)
open(f"{sys.argv[2]}/invalid", "wb").write(b"\x21ok \xff\xc3 bad \xed\xa0\x80 [SEP] <mask>")
PY
cd "$work"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
  -print_final_stats=1 corpus seeds
