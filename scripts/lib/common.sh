# Shared by scripts/test.sh, scripts/demo.sh and the benchmarks: package
# set-up and the build. Source it; do not run it.

SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE_SHARED=${SLUICE_SHARED:-$SLUICE_ROOT/../shared}

# The one package list (Debian 12 names) for the README's commands, CI and the
# container image (deploy/Dockerfile installs through scripts/install_packages.sh,
# which reads these arrays): what the fresh-machine check proves is what the
# image gets. Groups:
#   build    compile the `sluice` binary (Release, tests and benchmarks off)
#   test     everything else scripts/test.sh, the demos and benchmarks need
#   runtime  run the binary (the image's final stage; no -dev packages)
# tests/integration/deploy checks that every name exists in Debian 12 and that
# `runtime` covers every shared library the binary loads.
SLUICE_PACKAGES_build=(
  build-essential cmake ninja-build pkg-config
  librdkafka-dev libboost1.74-dev libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev
  libconcurrentqueue-dev libreaderwriterqueue-dev libutf8proc-dev unicode-data python3
  prometheus-cpp-dev
  libdnnl-dev ocl-icd-opencl-dev libopenblas-dev
)
SLUICE_PACKAGES_test=(
  git kcat libopenblas0-pthread
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev clang-format-14
  prometheus
  python3-numpy python3-torch python3-confluent-kafka python3-yaml python3-faiss
  procps curl
)
SLUICE_PACKAGES_runtime=(
  librdkafka1 libyaml-cpp0.7 libsimdjson14 libutf8proc2 libdnnl2 libgomp1 libprometheus-cpp-core1.0
  ca-certificates curl
)
# Everything scripts/test.sh and the demos build and run with.
SLUICE_BUILD_PACKAGES=("${SLUICE_PACKAGES_build[@]}" "${SLUICE_PACKAGES_test[@]}")

sluice_log() { printf '[sluice] %s\n' "$*" >&2; }

# sluice_ensure_packages PKG...: apt-get installs the ones that are missing, and
# only runs `apt-get update` when something is missing.
sluice_ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  sluice_log "installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# sluice_configure BUILD_DIR [cmake args...]: configure unless the tree is
# already configured. A configure that failed leaves CMakeCache.txt but no
# build.ninja/Makefile; such a tree (or one made with another generator) is
# cleared and configured again, so a rerun recovers once the cause is fixed.
sluice_configure() {
  local dir=$1; shift
  local gen=(-G "Unix Makefiles") want=Makefile
  if command -v ninja >/dev/null; then gen=(-G Ninja); want=build.ninja; fi
  if [ -f "$dir/CMakeCache.txt" ] && [ -f "$dir/$want" ]; then
    return 0
  fi
  if [ -f "$dir/CMakeCache.txt" ]; then
    sluice_log "$dir: the last configure did not finish; configuring again"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake -S "$SLUICE_ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
}

# sluice_build BUILD_DIR [cmake args...]: configure (when needed) and build everything.
sluice_build() {
  local dir=$1
  sluice_configure "$@"
  cmake --build "$dir" --parallel "$(nproc)"
}

# sluice_demo_setup MODEL_DEFAULT WHAT_MAKES_IT: what every demo does first.
# Installs the packages, builds the release tree unless $SLUICE names a
# binary already (then sets SLUICE to the built one), and sets MODEL
# (${SLUICE_MODEL:-MODEL_DEFAULT}), exiting 1 when no model is there.
sluice_demo_setup() {
  sluice_ensure_packages "${SLUICE_BUILD_PACKAGES[@]}" python3-confluent-kafka
  if [ -z "${SLUICE:-}" ]; then
    local build=${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/release}
    sluice_build "$build" >/dev/null
    SLUICE=$build/sluice
  fi
  MODEL=${SLUICE_MODEL:-$1}
  if [ ! -f "$MODEL/config.json" ] || [ ! -f "$MODEL/model.safetensors" ]; then
    sluice_log "no model at $MODEL (the project ships models/$(basename "$1"); $2 writes it)"
    exit 1
  fi
}

# Node.js + npm (Hugging Face tokenizers and ONNX Runtime peers in the
# benchmarks): installed from Debian only when the commands are missing (a
# machine may already have Node from elsewhere), then the pinned npm packages.
sluice_ensure_node_peers() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    sluice_ensure_packages nodejs npm
  fi
  # Every dependency tools/package.json pins, at its pinned version (a checkout
  # whose node_modules predates a new or bumped pin gets `npm ci` again).
  if ! (cd "$SLUICE_ROOT/tools" && node -e '
      const deps = require("./package.json").dependencies;
      for (const m in deps) {
        let v = null;
        try { v = require("./node_modules/" + m + "/package.json").version; } catch (e) {}
        if (v !== deps[m]) process.exit(1);
      }' 2>/dev/null); then
    (cd "$SLUICE_ROOT/tools" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  fi
}
