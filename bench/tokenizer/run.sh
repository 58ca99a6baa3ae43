#!/usr/bin/env bash
# Tokenizer benchmark: sluice (tokenizer_bench) against Hugging Face
# `tokenizers` (npm, encodeBatch) in the same run, one thread and all cores,
# on SST-2 train and the TweetEval tweets, for bert-base-uncased (WordPiece)
# and the SST-2 byte-level BPE fixture. Prints wall-clock and per-CPU-second
# rates with their ratios, and checks that both produced identical ids.
#
#   bench/tokenizer/run.sh [BUILD_DIR]      (default: build/release)
#   REPEAT=5 THREADS="1 2" bench/tokenizer/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build/release}
DATA=${SLUICE_SHARED_DATA:-$ROOT/../shared/data}
REPEAT=${REPEAT:-5}
THREADS=${THREADS:-"1 $(nproc)"}
BENCH=$BUILD/bench/tokenizer/tokenizer_bench

[ -x "$BENCH" ] || { echo "run.sh: build tokenizer_bench first (cmake --build $BUILD --target tokenizer_bench)" >&2; exit 2; }
[ -d "$ROOT/tools/node_modules/tokenizers" ] || { echo "run.sh: run (cd tools && npm ci --ignore-scripts) first" >&2; exit 2; }
[ -f "$DATA/sst2/train.tsv" ] || { echo "run.sh: no shared data at $DATA" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

datasets=("sst2-train|$DATA/sst2/train.tsv|--sst2" "tweeteval|$DATA/tweeteval-sentiment/test_text.txt|")
tokenizers=("bert|$DATA/bert-base-uncased" "bpe|$ROOT/tests/fixtures/tokenizer/sst2-bpe")

field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"; }

printf '%-5s %-10s %3s | %11s %11s %7s | %11s %11s %7s | %s\n' tok dataset thr \
  "sluice s/s" "hf s/s" ratio "sluice s/cpu" "hf s/cpu" ratio ids
status=0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
for t in "${tokenizers[@]}"; do
  IFS='|' read -r tname tdir <<<"$t"
  for d in "${datasets[@]}"; do
    IFS='|' read -r dname dfile dflag <<<"$d"
    for n in $THREADS; do
      ours=$("$BENCH" --tokenizer "$tdir" --input "$dfile" $dflag --threads "$n" --repeat "$REPEAT" \
             --dump-ids "$TMP/ours.ids")
      theirs=$(RAYON_NUM_THREADS=$n TOKENIZERS_PARALLELISM=true node "$ROOT/bench/tokenizer/hf_bench.mjs" \
               --tokenizer "$tdir" --input "$dfile" $dflag --repeat "$REPEAT" --dump-ids "$TMP/hf.ids")
      if cmp -s "$TMP/ours.ids" "$TMP/hf.ids"; then same=identical; else same=DIFFERENT; status=1; fi
      os=$(field sentences_per_s "$ours"); hs=$(field sentences_per_s "$theirs")
      oc=$(field sentences_per_cpu_s "$ours"); hc=$(field sentences_per_cpu_s "$theirs")
      printf '%-5s %-10s %3s | %11.0f %11.0f %7s | %11.0f %11.0f %7s | %s\n' "$tname" "$dname" "$n" \
        "$os" "$hs" "$(ratio "$os" "$hs")" "$oc" "$hc" "$(ratio "$oc" "$hc")" "$same"
      echo "$ours" >>"$TMP/raw.jsonl"; echo "$theirs" >>"$TMP/raw.jsonl"
    done
  done
done
[ -n "${RAW:-}" ] && cp "$TMP/raw.jsonl" "$RAW"
echo "(sentences/s: wall clock; sentences/cpu: per CPU-second of the process, all threads, i.e."
echo " per core. Median of $REPEAT runs each after a warm-up. RAW=FILE keeps the JSON lines.)"
exit $status
