#!/usr/bin/env bash
# Checks that the C sources follow the repository's .clang-format: prints clang-format's
# warning for each line that would change and exits 1 if there is any.
# Usage: scripts/check-format.sh [SOURCE_ROOT]   (fix with: clang-format -i FILE...)
set -euo pipefail
cd "${1:-"$(dirname "$0")/.."}"
command -v clang-format >/dev/null || {
	echo "SKIP: clang-format is not installed (apt-get install clang-format)"
	exit 77
}
mapfile -t files < <(find src tests -name '*.[ch]' | LC_ALL=C sort)
if ! clang-format --dry-run -Werror "${files[@]}"; then
	echo "some sources are not clang-formatted: run clang-format -i on the files above" >&2
	exit 1
fi
echo "${#files[@]} files follow .clang-format"
