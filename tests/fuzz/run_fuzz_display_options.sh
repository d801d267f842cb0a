#!/bin/sh
# Builds the --display options libFuzzer target with clang (ASan + UBSan) and runs it for
# SECONDS (default 60), seeded with valid settings of each kind.
#   usage: tests/fuzz/run_fuzz_display_options.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-display-options"
mkdir -p "$CORPUS"
fuzz_build fuzz_display_options "$ROOT/src/display/display_options.c"
printf 'vnc=127.0.0.1:5900,password=secret,width=800,height=600' >"$CORPUS/seed-tcp"
printf 'vnc=[::1]:0' >"$CORPUS/seed-ipv6"
printf 'vnc=unix:/run/vm.vnc,height=480' >"$CORPUS/seed-unix"
printf 'vnc=:5900,input=ps2' >"$CORPUS/seed-ps2"
printf 'none' >"$CORPUS/seed-none"
printf 'vnc=:0,adapter=bochs,width=1280,height=720' >"$CORPUS/seed-bochs"
exec "$OUT/fuzz_display_options" -max_total_time="$SECONDS_TO_RUN" -max_len=512 -timeout=10 \
	-rss_limit_mb=2048 "$CORPUS"
