#!/bin/sh
# Builds the virtio-input libFuzzer target (configuration selects and status buffers) with
# clang (ASan + UBSan) and runs it for SECONDS (default 60), seeded with the selects Linux's
# driver makes at probe and an LED event.
#   usage: tests/fuzz/run_fuzz_virtio_input.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-virtio-input"
mkdir -p "$CORPUS"
fuzz_build fuzz_virtio_input "$ROOT/src/virtio/virtio_input_config.c"
# Layout: see tests/fuzz/fuzz_virtio_input.c.
printf '\000\000\001\000\000\000\021\001\000\000\021\003\000\000\022\000\000' >"$CORPUS/probe-tablet"
printf '\001\000\021\024\000\001\000\000\010\021\000\001\000\001\000\000\000' >"$CORPUS/led-keyboard"
exec "$OUT/fuzz_virtio_input" -max_total_time="$SECONDS_TO_RUN" -max_len=512 -timeout=10 \
	-rss_limit_mb=1024 "$CORPUS"
