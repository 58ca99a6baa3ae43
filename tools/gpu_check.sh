#!/usr/bin/env bash
# The GPU checks in one command, on a machine with an NVIDIA GPU (sm_80+):
# the GPU test suite (every CUDA op against the CPU backend, whole models,
# the backend contract), compute-sanitizer over the op tests, the CUDA
# encoder benchmark against PyTorch, and the recommendation scorer (cuBLAS
# GEMM + CUDA top-K) against torch.topk on the same GPU and FAISS on the CPU. Logs and results go to $OUT (default
# ./gpu-check-out); a summary is printed last.
#
#   tools/gpu_check.sh [PHASE...]    PHASE: all|tests|sanitize|bench|bench-full|scorer|profile (default: all)
#
# Several phases run in the order given. GPU_CHECK_BUDGET=SECONDS caps the
# whole run: each phase's programs get at most what is left (less a margin
# for the summary), so a lease-limited call still returns the summary of what
# finished instead of being killed mid-phase with nothing printed.
#
# Phases (`all` is tests + sanitize + the quick bench + scorer). Measured on an
# H200 (2026-12-04, bundle): tests + bench + scorer + sanitize 301 s in all, of
# which the quick bench 190-208 s (torch.compile included) and tests ~15 s;
# profile 38 s. A 15-minute lease holds `tests bench scorer sanitize` and a rerun:
#   tests       the gpu-labelled tests (ctest -L gpu, or the bundled programs)
#   sanitize    compute-sanitizer memcheck over the op tests and a backend
#               subset; racecheck and synccheck over the attention kernels
#   bench       bench/encoder/gpu_bench.py --quick (1 run, 1 s per config)
#   bench-full  bench/encoder/gpu_bench.py (3 runs, 2 s per config, every config)
#   scorer      bench/recommend/scorer_run.py --device cuda --quick (d 64/128,
#               10k/100k items, batch 1/16/256; same top-K ids checked first)
#   profile     where the encoder's GPU time goes: ncu (kernel durations only,
#               clocks left alone) over bert-base forwards of 8k tokens, as
#               len 128 x 64 and len 32 x 256 (tweet-like), summed per kernel
#               by tools/ncu_kernel_table.py (not part of `all`)
#
# Where the programs come from:
#   - build-gpu-bundle/bundle.tar.xz (made by tools/gpu_bundle.sh on a Debian
#     machine with the CUDA toolkit) when present: for GPU machines without
#     sluice's build dependencies; cuBLAS is taken from the machine's CUDA 13;
#   - else a build here: cmake -DSLUICE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
#     (GPU_CHECK_ARCHS overrides) in build-gpu, then ctest -L gpu.
# GPU_CHECK_BUILD=1 forces the build. Exit code: 0 when every phase run passed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PHASES=()
for p in "${@:-all}"; do
  case "$p" in
    all) PHASES+=(tests sanitize bench scorer) ;;
    tests | sanitize | bench | bench-full | scorer | profile) PHASES+=("$p") ;;
    *)
      echo "usage: tools/gpu_check.sh [all|tests|sanitize|bench|bench-full|scorer|profile]... (unknown phase '$p')" >&2
      exit 2
      ;;
  esac
done
case "${GPU_CHECK_BUDGET:-}" in '' | *[!0-9]*)
  [ -z "${GPU_CHECK_BUDGET:-}" ] || { echo "gpu_check: GPU_CHECK_BUDGET must be whole seconds, not '$GPU_CHECK_BUDGET'" >&2; exit 2; } ;;
esac
STARTED=$SECONDS
# cap SECONDS: SECONDS, or less where GPU_CHECK_BUDGET leaves less (a 15 s margin for the summary).
cap() {
  local want=$1 left
  [ -n "${GPU_CHECK_BUDGET:-}" ] || { echo "$want"; return; }
  left=$((GPU_CHECK_BUDGET - (SECONDS - STARTED) - 15))
  [ "$left" -lt "$want" ] && want=$left
  [ "$want" -lt 1 ] && want=1
  echo "$want"
}
# out_of_time NAME: true (and says so) when the budget has no room left for phase NAME.
out_of_time() {
  [ -n "${GPU_CHECK_BUDGET:-}" ] || return 1
  [ $((GPU_CHECK_BUDGET - (SECONDS - STARTED))) -ge 45 ] && return 1
  say "$1: not run (GPU_CHECK_BUDGET=$GPU_CHECK_BUDGET s spent)"
  return 0
}
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
WORK=${GPU_CHECK_WORK:-$OUT/bench-work}  # random models and plans, shared by bench and profile
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
STATUS=0
PY=${GPU_CHECK_PYTHON:-python3}

# say: into the summary (printed at the end); progress: to stderr as it happens.
say() { echo "$*" >>"$SUMMARY"; echo "[gpu-check] $*" >&2; }
fail() { say "FAIL: $*"; STATUS=1; }

# ---- the machine ----------------------------------------------------------------------------------
{
  date -u +%FT%TZ
  uname -a
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  (command -v nvcc && nvcc --version) 2>&1 || echo "no nvcc on PATH"
  $PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())' 2>&1
} >"$OUT/machine.txt"
say "machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- programs: bundle or build ----------------------------------------------------------------------
BUNDLE=$ROOT/build-gpu-bundle/bundle.tar.xz
MODE=build
if [ -f "$BUNDLE" ] && [ "${GPU_CHECK_BUILD:-0}" != 1 ]; then MODE=bundle; fi

find_cublas_dir() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib; do
    [ -e "$d/libcublasLt.so.13" ] && { echo "$d"; return; }
  done
  d=$(ldconfig -p 2>/dev/null | awk '$1 == "libcublasLt.so.13" { print $NF; exit }')
  [ -n "$d" ] && { dirname "$d"; return; }
  d=$($PY - <<'PY' 2>/dev/null
import glob, site, sys
for base in site.getsitepackages() + [site.getusersitepackages()]:
    for p in glob.glob(base + "/nvidia/**/libcublasLt.so.13", recursive=True):
        print(p.rsplit("/", 1)[0]); sys.exit()
PY
)
  [ -n "$d" ] && echo "$d"
}

RUN=()  # prefix for running the programs (the bundle's library path)
if [ "$MODE" = bundle ]; then
  X=$ROOT/build-gpu-bundle/x
  rm -rf "$X" && mkdir -p "$X" && tar -C "$X" -xJf "$BUNDLE"
  CUBLAS=$(find_cublas_dir)
  [ -n "$CUBLAS" ] || { fail "no libcublasLt.so.13 on this machine (looked in /usr/local/cuda, ldconfig, python's nvidia packages)"; exit 1; }
  # Only our programs get the bundled libraries; python and torch keep the system's.
  LIBPATH=$X/lib:$CUBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if ! env LD_LIBRARY_PATH="$LIBPATH" "$X/bin/cuda_fallback_test" --gtest_list_tests >/dev/null 2>"$OUT/loader.txt"; then
    LIBPATH=$X/lib:$X/lib/compat:$CUBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    env LD_LIBRARY_PATH="$LIBPATH" "$X/bin/cuda_fallback_test" --gtest_list_tests >/dev/null 2>>"$OUT/loader.txt" ||
      { fail "bundled programs do not load here: $(tail -2 "$OUT/loader.txt")"; exit 1; }
    say "using the bundled libstdc++ (the system one is older)"
  fi
  RUN=(env LD_LIBRARY_PATH="$LIBPATH")
  # Wrappers, for scripts that start a program themselves (gpu_bench.py).
  BIN=$X/run
  mkdir -p "$BIN"
  for p in "$X"/bin/*; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$LIBPATH" "$p" >"$BIN/$(basename "$p")"
    chmod +x "$BIN/$(basename "$p")"
  done
  say "programs: bundle ($(head -1 "$X/BUILD_INFO"); $(sed -n 2p "$X/BUILD_INFO")), cuBLAS from $CUBLAS"
  PROG=$X/bin
else
  BUILD=$ROOT/build-gpu
  say "programs: building in $BUILD (CUDA archs ${GPU_CHECK_ARCHS:-90})"
  if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${GPU_CHECK_ARCHS:-90}" >"$OUT/configure.log" 2>&1; then
    fail "cmake configure failed (see configure.log; a machine without sluice's Debian build dependencies needs the bundle: run tools/gpu_bundle.sh on a build machine and carry build-gpu-bundle)"
    tail -20 "$OUT/configure.log" >&2
    exit 1
  fi
  if ! cmake --build "$BUILD" --parallel "$(nproc)" --target cuda_ops_test cuda_backend_test cuda_fallback_test \
      round_robin_backend_test cuda_scorer_test encoder_bench scorer_bench >"$OUT/build.log" 2>&1; then
    fail "build failed (see build.log)"
    grep -E "error|FAILED" "$OUT/build.log" | head -20 >&2
    exit 1
  fi
  BIN=$OUT/bin
  mkdir -p "$BIN"
  ln -sf "$BUILD"/tests/gpu/{cuda_ops_test,cuda_backend_test,cuda_fallback_test,round_robin_backend_test,cuda_scorer_test} "$BUILD"/bench/{encoder_bench,scorer_bench} "$BIN/"
  PROG=$BIN
fi
export SLUICE_GPU_TEST_DIR=${SLUICE_GPU_TEST_DIR:-$OUT/scratch}

# Runs one gtest program; "name: N passed, N failed, N skipped" into the summary.
run_gtest() {  # name program [args...]
  local name=$1
  shift
  local log=$OUT/$name.log
  timeout "$(cap "${GPU_CHECK_TIMEOUT:-560}")" "${RUN[@]}" "$@" --gtest_output="xml:$OUT/$name.xml" >"$log" 2>&1
  local rc=$?
  local passed failed skipped
  passed=$(grep -c '^\[       OK \]' "$log")
  failed=$(grep -c '^\[  FAILED  \] .*(' "$log")
  skipped=$(grep -c '^\[  SKIPPED \] .*(' "$log")
  say "$name: $passed passed, $failed failed, $skipped skipped (exit $rc, log $name.log)"
  grep -m1 'ERROR SUMMARY' "$log" | sed 's/^/    /' >>"$SUMMARY"
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
    STATUS=1
    grep -E '^\[  FAILED  \] .*\(' "$log" | head -30 | sed 's/^/    /' >>"$SUMMARY"
    grep -E -A6 'Failure$' "$log" | head -60 | sed 's/^/    /' >>"$SUMMARY"
    [ "$rc" -eq 124 ] && say "  $name timed out"
  fi
  if grep -q 'no usable CUDA device' "$log"; then
    # The point of this script is to run them on a GPU: a skip for want of one is a failure.
    fail "$name: the GPU tests did not see a usable device: $(grep -m1 'no usable CUDA device' "$log")"
  elif [ "$skipped" -ne 0 ]; then
    grep -m2 -A1 'Skipped$' "$log" | sed 's/^/    /' >>"$SUMMARY"
  fi
  return 0
}

phase_tests() {
  if [ "$MODE" = build ]; then
    (cd "$ROOT/build-gpu" && timeout "$(cap 580)" ctest -L gpu -E "cuda_ops_(memcheck|racecheck)" --output-on-failure >"$OUT/ctest-gpu.log" 2>&1)
    local rc=$?
    say "ctest -L gpu: $(grep -E 'tests passed|tests failed' "$OUT/ctest-gpu.log" | tail -1) (exit $rc, log ctest-gpu.log)"
    [ $rc -eq 0 ] || { STATUS=1; grep -E '\(Failed\)|\*\*\*Failed|Timeout' "$OUT/ctest-gpu.log" | head -30 >>"$SUMMARY"; }
    [ $rc -eq 0 ] || grep -E -B2 -A8 'Failure$' "$OUT/ctest-gpu.log" | head -120 >>"$SUMMARY"
    grep -q "Skipped" "$OUT/ctest-gpu.log" && say "some gpu tests were skipped: see ctest-gpu.log"
  else
    run_gtest cuda_ops_test "$PROG/cuda_ops_test"
    run_gtest cuda_backend_test "$PROG/cuda_backend_test"
    [ -x "$PROG/cuda_scorer_test" ] && run_gtest cuda_scorer_test "$PROG/cuda_scorer_test"
  fi
  run_gtest round_robin_backend_test "$PROG/round_robin_backend_test"
}

phase_sanitize() {
  local cs
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -z "$cs" ]; then
    say "sanitize: compute-sanitizer not found; skipped"
    return
  fi
  # memcheck: out-of-bounds and misaligned accesses, leaks, API errors.
  run_gtest memcheck_ops "$cs" --tool memcheck --leak-check full --error-exitcode 97 "$PROG/cuda_ops_test"
  if grep -q "Device not supported\|device not supported" "$OUT/memcheck_ops.log"; then
    say "sanitize: compute-sanitizer does not support this device/runtime (gVisor?); skipped"
    return
  fi
  run_gtest memcheck_backend "$cs" --tool memcheck --error-exitcode 97 "$PROG/cuda_backend_test" \
    --gtest_filter='Models/*bert_d64_fp16:Models/*roberta_d32_bf16:Models/*bert_d24_tanh_fp16:CudaBackendContract.*'
  # racecheck: shared-memory hazards (the tensor-core attention kernel's tiles).
  run_gtest racecheck_attention "$cs" --tool racecheck --racecheck-report all --error-exitcode 97 \
    "$PROG/cuda_ops_test" --gtest_filter='*Attention*:*AddLayerNorm*:*EmbeddingLayerNorm*:*Softmax*'
  # The recommendation scorer's masking and top-K kernels (shared-memory heaps and merges).
  if [ -x "$PROG/cuda_scorer_test" ]; then
    run_gtest memcheck_scorer "$cs" --tool memcheck --error-exitcode 97 "$PROG/cuda_scorer_test" \
      --gtest_filter='Cases/*'
    run_gtest racecheck_scorer "$cs" --tool racecheck --racecheck-report all --error-exitcode 97 \
      "$PROG/cuda_scorer_test" --gtest_filter='Cases/*'
  fi
  run_gtest synccheck_attention "$cs" --tool synccheck --error-exitcode 97 "$PROG/cuda_ops_test" \
    --gtest_filter='*Attention*'
  # initcheck: reads of device memory nothing wrote (informational: cuBLAS internals may trip it).
  GPU_CHECK_TIMEOUT=300 run_gtest initcheck_ops_info "$cs" --tool initcheck "$PROG/cuda_ops_test" \
    --gtest_filter='*Attention*:*LayerNorm*:*Pool*:*Classifier*' || true
}

phase_bench() {  # [--quick]
  local log=$OUT/gpu_bench.log
  if ! $PY -c 'import torch, numpy' 2>/dev/null; then
    fail "bench: $PY lacks torch or numpy (set GPU_CHECK_PYTHON)"
    return
  fi
  timeout "$(cap 590)" $PY "$ROOT/bench/encoder/gpu_bench.py" --bench-bin "$BIN/encoder_bench" --out "$OUT" \
    --work-dir "$WORK" --peer-timeout "${GPU_CHECK_PEER_TIMEOUT:-300}" "$@" >"$log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || fail "bench exited $rc (log gpu_bench.log)"
  sed -n '/^encoder throughput/,$p' "$log" >>"$SUMMARY"
  [ $rc -eq 0 ] || tail -20 "$log" >&2
}

phase_scorer() {
  local log=$OUT/scorer_bench.log
  if [ ! -x "$BIN/scorer_bench" ]; then
    fail "scorer: no scorer_bench among the programs (an older bundle? rerun tools/gpu_bundle.sh)"
    return
  fi
  if ! $PY -c 'import torch, numpy' 2>/dev/null; then
    fail "scorer: $PY lacks torch or numpy (set GPU_CHECK_PYTHON)"
    return
  fi
  timeout "$(cap 400)" $PY "$ROOT/bench/recommend/scorer_run.py" --bench "$BIN/scorer_bench" --device cuda \
    --quick --min-time 0.5 --json "$OUT/scorer_bench.json" >"$log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || fail "scorer bench exited $rc (log scorer_bench.log)"
  sed -n '/^device /,$p' "$log" >>"$SUMMARY"
  [ $rc -eq 0 ] || tail -20 "$log" >&2
}

phase_profile() {
  local ncu model shape len batch
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
  if [ -z "$ncu" ]; then
    say "profile: ncu not found; skipped"
    return
  fi
  # The bench's random bert-base (made once in the shared work folder, whichever phase comes first).
  model=$(cd "$ROOT/bench/encoder" && $PY -c 'import sys, gpu_bench; print(gpu_bench.ensure_model(sys.argv[1], "bert-base"))' \
    "$WORK" 2>"$OUT/profile_model.log") ||
    { fail "profile: making the random bert-base failed (profile_model.log)"; return; }
  for shape in 128x64 32x256; do
    len=${shape%x*} batch=${shape#*x}
    # The first 900 launches (about 6 forwards; the warm-up cycle runs the same kernels) under ncu;
    # the rest of the --min-time run goes unprofiled.
    timeout "$(cap 200)" "${RUN[@]}" "$ncu" --clock-control none --cache-control none --csv --page raw \
      --metrics gpu__time_duration.sum --launch-count 900 \
      "$PROG/encoder_bench" --model "$model" --device cuda:0 --dtype fp16 --length "$len" --batch "$batch" \
      --min-time 3 >"$OUT/profile_$shape.csv" 2>"$OUT/profile_$shape.log"
    local rc=$?
    if [ $rc -ne 0 ]; then
      fail "profile $shape: ncu exited $rc ($(tail -1 "$OUT/profile_$shape.log"))"
      continue
    fi
    say "profile: bert-base fp16, $batch sequences of $len tokens, kernel time per forward (ncu, $(basename "$ncu"))"
    $PY "$ROOT/tools/ncu_kernel_table.py" "$OUT/profile_$shape.csv" --per-launch-of embedding_layernorm --top 16 \
      >>"$SUMMARY" 2>&1 || fail "profile $shape: no kernel table (profile_$shape.csv)"
  done
}

for p in "${PHASES[@]}"; do
  out_of_time "$p" && continue
  case "$p" in
    profile) phase_profile ;;
    tests) phase_tests ;;
    sanitize) phase_sanitize ;;
    bench) phase_bench --quick ;;
    bench-full) phase_bench ;;
    scorer) phase_scorer ;;
  esac
done

echo
echo "==== gpu-check summary (${PHASES[*]}; $((SECONDS - STARTED)) s; logs in $OUT) ===="
cat "$SUMMARY"
[ $STATUS -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $STATUS
