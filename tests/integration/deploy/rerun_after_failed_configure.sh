#!/usr/bin/env bash
# scripts/lib/common.sh's sluice_build: a configure that failed (it leaves
# CMakeCache.txt but no build.ninja) must not break every later run; once the
# cause is fixed, a rerun configures again and builds.
#   rerun_after_failed_configure.sh SOURCE_DIR
set -euo pipefail
source "$1/scripts/lib/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SLUICE_ROOT=$work/src   # sluice_configure configures $SLUICE_ROOT
mkdir -p "$SLUICE_ROOT"
printf 'cmake_minimum_required(VERSION 3.25)\nproject(p CXX)\nmessage(FATAL_ERROR "missing dependency")\n' \
  >"$SLUICE_ROOT/CMakeLists.txt"
if sluice_build "$work/build" >"$work/log1" 2>&1; then
  echo "FAIL: the broken configure succeeded"; exit 1
fi
[ -f "$work/build/CMakeCache.txt" ] || { echo "FAIL: the failed configure left no cache (test premise)"; exit 1; }
printf 'cmake_minimum_required(VERSION 3.25)\nproject(p CXX)\nfile(WRITE ${CMAKE_BINARY_DIR}/x.cpp "int main(){}")\nadd_executable(x ${CMAKE_BINARY_DIR}/x.cpp)\n' \
  >"$SLUICE_ROOT/CMakeLists.txt"
if ! sluice_build "$work/build" >"$work/log2" 2>&1; then
  cat "$work/log2"; echo "FAIL: the rerun after fixing the cause did not build"; exit 1
fi
[ -x "$work/build/x" ] || { echo "FAIL: no program built"; exit 1; }
sluice_build "$work/build" >"$work/log3" 2>&1   # and a configured tree is not configured again
if grep -q "Configuring done" "$work/log3"; then echo "FAIL: configured an up-to-date tree again"; exit 1; fi
echo ok
