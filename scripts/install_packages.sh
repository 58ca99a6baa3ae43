#!/usr/bin/env bash
# Installs the Debian 12 packages of the named groups (scripts/lib/common.sh
# holds the one list): only what is missing, `apt-get update` only then.
#   scripts/install_packages.sh build test      what scripts/test.sh installs
#   scripts/install_packages.sh build           the container image's build stage
#   scripts/install_packages.sh runtime         the container image's final stage
#   scripts/install_packages.sh --list GROUP... print the names, one per line
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--list] build|test|runtime..." >&2; exit 2; }
packages=()
for group in "$@"; do
  case "$group" in
    build) packages+=("${SLUICE_PACKAGES_build[@]}") ;;
    test) packages+=("${SLUICE_PACKAGES_test[@]}") ;;
    runtime) packages+=("${SLUICE_PACKAGES_runtime[@]}") ;;
    *) echo "$0: unknown package group '$group' (build, test, runtime)" >&2; exit 2 ;;
  esac
done
if [ $list = 1 ]; then
  printf '%s\n' "${packages[@]}"
else
  sluice_ensure_packages "${packages[@]}"
fi
