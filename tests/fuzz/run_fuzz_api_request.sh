#!/bin/sh
# Builds the control API's request libFuzzer target (route, body and command fields) with clang
# (ASan + UBSan) and runs it for SECONDS (default 60), seeded with a request of each route.
#   usage: tests/fuzz/run_fuzz_api_request.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-api-request"
mkdir -p "$CORPUS"
fuzz_build fuzz_api_request "$ROOT/src/vmm/api_routes.c" "$ROOT/src/vmm/api_protocol.c" \
	"$ROOT/src/vmm/api_disks.c" "$ROOT/src/vmm/api_nics.c" "$ROOT/src/vmm/api_limits.c" \
	"$ROOT/src/vmm/config_mac.c" "$ROOT/src/lib/size.c" "$ROOT/src/vmm/config_io_limits.c" \
	"$ROOT/src/lib/json_body.c" -ljansson
J='application/json'
printf 'GET\n/api/v1/vm\n\n' >"$CORPUS/seed-status"
printf 'PUT\n/api/v1/vm/balloon\n%s\n{"size":"512M"}' "$J" >"$CORPUS/seed-balloon"
printf 'POST\n/api/v1/vm/snapshot\n%s\n{"dir":"/s","resume":false,"disk_snapshot":true}' "$J" \
	>"$CORPUS/seed-snapshot"
printf 'POST\n/api/v1/vm/migration\n%s\n{"uri":"tcp:h:1","downtime_ms":5,"compress":true,"max_bandwidth":9,"auto_converge":true,"postcopy":true,"postcopy_after_rounds":2}' \
	"$J" >"$CORPUS/seed-migrate"
printf 'DELETE\n/api/v1/vm/migration\n\n' >"$CORPUS/seed-cancel"
printf 'PUT\n/api/v1/vm/net/3/mac\n%s\n{"mac":"52:54:00:12:34:56"}' "$J" >"$CORPUS/seed-mac"
printf 'PUT\n/api/v1/vm/net/0/link\n%s; charset=utf-8\n{"up":false}' "$J" >"$CORPUS/seed-link"
printf 'POST\n/api/v1/vm/screendump\n%s\n{"file":"/s.png"}' "$J" >"$CORPUS/seed-screendump"
printf 'PATCH\n/api/v1/vm/disks/data/limits\n%s\n{"bps":"8M","bps_burst":1,"iops":9,"iops_burst":"2"}' \
	"$J" >"$CORPUS/seed-limits"
printf 'GET\n/api/v1/vm/disks/0/limits\n\n' >"$CORPUS/seed-limits-get"
printf 'PATCH\n/api/v1/vm/net/1/limits\n%s\n{"rx_bps":"1M","rx_bps_burst":2,"rx_pps":3,"tx_pps_burst":"4","tx_bps":5}' \
	"$J" >"$CORPUS/seed-net-limits"
printf 'GET\n/api/v1/vm/counters\n\n' >"$CORPUS/seed-counters"
printf 'POST\n/api/v1/vm/disks\n%s\n{"path":"/a.img","readonly":true,"serial":"d1"}' "$J" >"$CORPUS/seed-disk-add"
printf 'DELETE\n/api/v1/vm/disks/d1\n\n' >"$CORPUS/seed-disk-remove"
printf 'POST\n/api/v1/vm/net\n%s\n{"net":"user"}' "$J" >"$CORPUS/seed-nic-add"
printf 'DELETE\n/api/v1/vm/net/1\n\n' >"$CORPUS/seed-nic-remove"
printf 'PUT\n/api/v1/vm/memory\n%s\n{"size":"1G"}' "$J" >"$CORPUS/seed-memory"
exec "$OUT/fuzz_api_request" -max_total_time="$SECONDS_TO_RUN" -max_len=1024 -timeout=10 \
	-rss_limit_mb=2048 "$CORPUS"
