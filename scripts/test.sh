#!/usr/bin/env bash
# Builds sluice and runs every test. Exit code is the test result.
#
#   scripts/test.sh                 all tests (GPU tests skip without a device)
#   scripts/test.sh -R SpscRing     forward arguments to ctest
#
# On a fresh Debian 12 machine it installs what is missing first.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

sluice_ensure_packages "${SLUICE_BUILD_PACKAGES[@]}"
# Formatting is part of the build: unformatted C++/CUDA fails here, by name.
"$SLUICE_ROOT/scripts/check_format.sh"
# Hugging Face tokenizers (npm): the reference token ids some tests compare against.
sluice_ensure_node_peers

BUILD=${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/release}
sluice_build "$BUILD"

# The thread-sanitizer build of the lock-free runtime (queue and stage runner).
if [ "${SLUICE_SKIP_TSAN:-0}" != 1 ]; then
  TSAN=$SLUICE_ROOT/build/tsan
  sluice_configure "$TSAN" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSLUICE_SANITIZE=thread -DSLUICE_CUDA=OFF -DSLUICE_BUILD_BENCH=OFF
  cmake --build "$TSAN" --parallel "$(nproc)" --target tsan_tests
  sluice_log "thread sanitizer: queue and stage-runner tests"
  (cd "$TSAN" && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
     ctest --output-on-failure -L tsan "$@")
fi

cd "$BUILD"
ctest --output-on-failure --timeout 900 "$@"
