#!/usr/bin/env bash
# ctest wrapper: compute-sanitizer (TOOL) over a GPU test program. Exit 77
# (ctest: skipped) where there is no usable GPU or the sanitizer cannot run
# on this device/runtime (gVisor); otherwise the sanitizer's verdict.
#   run_sanitizer.sh SANITIZER TOOL PROGRAM [gtest args...]
set -uo pipefail
SAN=$1 TOOL=$2 PROG=$3
shift 3
probe=$("$PROG" --gtest_filter='*RowsToF32*' 2>&1)
if grep -q 'no usable CUDA device' <<<"$probe"; then
  echo "skipped: $(grep -m1 'no usable CUDA device' <<<"$probe")"
  exit 77
fi
log=$(mktemp)
"$SAN" --tool "$TOOL" --error-exitcode 97 "$PROG" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if grep -qi 'device not supported\|Target application not supported' "$log"; then
  echo "skipped: compute-sanitizer does not support this device or runtime"
  rm -f "$log"
  exit 77
fi
rm -f "$log"
exit "$rc"
