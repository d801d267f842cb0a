#!/bin/sh
# Builds the x86 decoder libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60), seeded with code from the busybox binary.
#   usage: tests/fuzz/run_fuzz_emu_decode.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build-fuzz}
mkdir -p "$OUT/corpus-decode"
# shellcheck disable=SC2086
clang -std=gnu11 -D_GNU_SOURCE -g -O1 -pthread -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$ROOT/src" "$ROOT"/src/accel/emu/*.c \
	"$ROOT/src/accel/vcpu_state.c" "$ROOT/src/lib/log.c" "$ROOT/src/lib/guest_clock.c" \
	"$ROOT/tests/fuzz/fuzz_emu_decode.c" \
	-o "$OUT/fuzz_emu_decode"
if [ -r /bin/busybox ] && [ ! -e "$OUT/corpus-decode/seed-0" ]; then
	for i in 0 1 2 3 4 5 6 7; do
		{ printf '\002'; dd if=/bin/busybox bs=1 skip=$((4096 + i * 40000)) count=512 2>/dev/null; } \
			>"$OUT/corpus-decode/seed-$i"
	done
fi
exec "$OUT/fuzz_emu_decode" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
	-rss_limit_mb=2048 "$OUT/corpus-decode"
