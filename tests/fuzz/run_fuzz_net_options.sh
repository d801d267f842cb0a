#!/bin/sh
# Builds the network options libFuzzer target (--net user's net=/hostfwd= and a switch port's
# switch=/vlan=/trunk=/ip=/rate=) with clang (ASan + UBSan) and runs it for SECONDS (default
# 60), seeded with valid settings of both kinds.
#   usage: tests/fuzz/run_fuzz_net_options.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-net-options"
mkdir -p "$CORPUS"
fuzz_build fuzz_net_options "$ROOT/src/virtio/user_net_options.c" \
	"$ROOT/src/hostnet/switch_port.c" "$ROOT/src/hostnet/switch.c" "$ROOT/src/hostnet/rtnl.c" \
	"$ROOT/src/hostnet/port_filter.c" "$ROOT/src/lib/size.c" -lmnl -lnftables
printf 'net=10.9.0.0/16,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:53-10.9.0.15:53' \
	>"$CORPUS/seed-user"
printf 'switch=sw0,trunk=10:20:4094,ip=10.0.0.5,rate=10M' >"$CORPUS/seed-trunk"
printf 'switch=sw0,vlan=10' >"$CORPUS/seed-access"
exec "$OUT/fuzz_net_options" -max_total_time="$SECONDS_TO_RUN" -max_len=1024 -timeout=10 \
	-rss_limit_mb=2048 "$CORPUS"
