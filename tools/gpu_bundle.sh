#!/usr/bin/env bash
# Builds the GPU test programs and the CUDA encoder and scorer benchmarks here (Debian,
# CUDA toolkit, no GPU needed) for sm_90 (H100/H200), and packs them with the
# shared libraries a GPU machine's image lacks (oneDNN, OpenCL loader, OpenMP;
# libstdc++/libgcc_s as a fallback) into build-gpu-bundle/bundle.tar.xz:
# what tools/gpu_check.sh runs on a GPU machine that cannot build sluice
# itself (no Debian packages there). cuBLAS is not packed: the GPU machine's
# CUDA 13 provides it.
#
#   tools/gpu_bundle.sh [ARCHS]      ARCHS: CMAKE_CUDA_ARCHITECTURES, default 90
#
# Then, on the GPU machine (repository root, build-gpu-bundle carried along):
#   tools/gpu_check.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARCHS=${1:-90}
BUILD=${SLUICE_GPU_BUILD_DIR:-$ROOT/build-gpu}
OUTDIR=$ROOT/build-gpu-bundle
TARGETS=(cuda_ops_test cuda_backend_test cuda_fallback_test round_robin_backend_test cuda_scorer_test encoder_bench scorer_bench)

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCHS" >/dev/null
cmake --build "$BUILD" --parallel "${SLUICE_JOBS:-2}" --target "${TARGETS[@]}"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/lib/compat"
cp "$BUILD"/tests/gpu/{cuda_ops_test,cuda_backend_test,cuda_fallback_test,round_robin_backend_test,cuda_scorer_test} "$STAGE/bin/"
cp "$BUILD"/bench/{encoder_bench,scorer_bench} "$STAGE/bin/"
strip --strip-unneeded "$STAGE"/bin/* 2>/dev/null || true

# Shared libraries from Debian packages (resolved paths, copied under their sonames).
copy_lib() {  # soname destination
  local path
  path=$(ldd "$STAGE/bin/cuda_backend_test" | awk -v n="$1" '$1 == n { print $3 }')
  [ -n "$path" ] || path=$(ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }')
  [ -n "$path" ] || { echo "gpu_bundle: cannot find $1" >&2; exit 1; }
  cp -L "$path" "$2/$1"
}
for lib in libdnnl.so.2 libOpenCL.so.1 libgomp.so.1; do copy_lib "$lib" "$STAGE/lib"; done
for lib in libstdc++.so.6 libgcc_s.so.1; do copy_lib "$lib" "$STAGE/lib/compat"; done

{
  echo "built: $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}')"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (with uncommitted changes)')"
  echo "CUDA architectures: $ARCHS; nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
} >"$STAGE/BUILD_INFO"

mkdir -p "$OUTDIR"
tar -C "$STAGE" -cJf "$OUTDIR/bundle.tar.xz" .
echo "gpu_bundle: $OUTDIR/bundle.tar.xz ($(du -h "$OUTDIR/bundle.tar.xz" | cut -f1)); carry build-gpu-bundle and run tools/gpu_check.sh"
