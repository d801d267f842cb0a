#!/bin/sh
# Builds the system-mode CPU libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60): random guest code, page tables, descriptor tables and state.
#   usage: tests/fuzz/run_fuzz_emu_system.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-system"
# shellcheck disable=SC2086
fuzz_build fuzz_emu_system $EMU_CPU_SOURCES
if [ -r /bin/busybox ] && [ ! -e "$OUT/corpus-system/seed-0" ]; then
	for i in 0 1 2 3; do
		{ printf "\\00$((i + 1))\\000\\001\\000\\000\\000\\000\\001\\000\\020\\000\\377\\377\\000\\020\\000\\377\\377\\000\\000\\000\\003\\000\\000\\000\\000\\147\\000\\000\\000\\000\\000"
		  dd if=/bin/busybox bs=1 skip=$((4096 + i * 40000)) count=2048 2>/dev/null; } \
			>"$OUT/corpus-system/seed-$i"
	done
fi
exec "$OUT/fuzz_emu_system" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 \
	-rss_limit_mb=4096 "$OUT/corpus-system"
