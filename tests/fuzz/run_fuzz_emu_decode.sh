#!/bin/sh
# Builds the x86 decoder libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60), seeded with code from the busybox binary.
#   usage: tests/fuzz/run_fuzz_emu_decode.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-decode"
# shellcheck disable=SC2086
fuzz_build fuzz_emu_decode $EMU_CPU_SOURCES
if [ -r /bin/busybox ] && [ ! -e "$OUT/corpus-decode/seed-0" ]; then
	for i in 0 1 2 3 4 5 6 7; do
		{ printf '\002'; dd if=/bin/busybox bs=1 skip=$((4096 + i * 40000)) count=512 2>/dev/null; } \
			>"$OUT/corpus-decode/seed-$i"
	done
fi
exec "$OUT/fuzz_emu_decode" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
	-rss_limit_mb=2048 "$OUT/corpus-decode"
