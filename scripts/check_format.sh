#!/usr/bin/env bash
# Fails (exit 1), naming each file, when a tracked C++/CUDA source does not
# match .clang-format under clang-format-14 (the version Debian 12 ships; other
# versions format some constructs differently). scripts/test.sh runs it first.
#
#   scripts/check_format.sh          check
#   scripts/check_format.sh --fix    rewrite the files in place
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$FORMAT" >/dev/null; then
  echo "check_format: $FORMAT not found (Debian package clang-format-14)" >&2
  exit 2
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' '*.cc' '*.hpp')
else  # a source tree without its git directory (an archive)
  mapfile -t files < <(find app bench kernels operators src tests tools \( -name '*.cpp' -o -name '*.h' \
    -o -name '*.cu' -o -name '*.cuh' -o -name '*.cc' -o -name '*.hpp' \) -not -path '*/node_modules/*' | sort)
fi
if [ "${1:-}" = --fix ]; then
  "$FORMAT" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  "$FORMAT" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: ${#bad[@]} file(s) do not match .clang-format ($FORMAT); run scripts/check_format.sh --fix:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files match .clang-format"
