#!/bin/sh
# Builds the virtio-mem block accounting libFuzzer target (the driver's requests) with clang
# (ASan + UBSan) and runs it for SECONDS (default 60), seeded with Linux's probe and a plug
# and unplug of the first blocks.
#   usage: tests/fuzz/run_fuzz_mem_blocks.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-mem-blocks"
mkdir -p "$CORPUS"
fuzz_build fuzz_mem_blocks "$ROOT/src/virtio/mem_blocks.c"
# Layout: see tests/fuzz/fuzz_mem_blocks.c. UNPLUG_ALL; requested = 8 blocks; PLUG 4 at 0;
# STATE 8 at 0; UNPLUG 2 at block 2 (offset 1024 pages).
printf '\002\000\000\000\000\000\000\000\000\000\000\000\005\000\000\000\010\000\000\000\000\000\000\000\000\000\004\000\000\000\000\000\000\000\000\000\003\000\010\000\000\000\000\000\000\000\000\000\001\000\002\000\000\004\000\000\000\000\000\000' >"$CORPUS/plug-unplug"
exec "$OUT/fuzz_mem_blocks" -max_total_time="$SECONDS_TO_RUN" -max_len=600 -timeout=10 \
	-rss_limit_mb=1024 "$CORPUS"
