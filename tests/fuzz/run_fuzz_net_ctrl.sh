#!/bin/sh
# Builds the virtio-net control-command libFuzzer target with clang (ASan + UBSan) and runs it
# for SECONDS (default 60), seeded with a well-formed VQ_PAIRS_SET and MAC_ADDR_SET.
#   usage: tests/fuzz/run_fuzz_net_ctrl.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-net-ctrl"
fuzz_build fuzz_net_ctrl "$ROOT/src/virtio/virtio_net_ctrl.c" "$ROOT/src/virtio/virtqueue.c" \
	"$ROOT/src/machine/guest_memory.c" "$ROOT/src/lib/huge_pages.c"
# Layout: see tests/fuzz/fuzz_net_ctrl.c. Two readable buffers (header, data), one ack byte.
printf '\002\001\002\002\001\004\000\002\000' >"$OUT/corpus-net-ctrl/pairs"
printf '\002\001\002\006\001\001\001\002\000\000\001\002\003' >"$OUT/corpus-net-ctrl/mac"
exec "$OUT/fuzz_net_ctrl" -max_total_time="$SECONDS_TO_RUN" -max_len=256 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus-net-ctrl"
