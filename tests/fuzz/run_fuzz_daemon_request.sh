#!/bin/sh
# Builds the host daemon's request-body libFuzzer target with clang (ASan + UBSan) and runs it
# for SECONDS (default 60), seeded with a body of each request.
#   usage: tests/fuzz/run_fuzz_daemon_request.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-daemon-request"
mkdir -p "$CORPUS"
fuzz_build fuzz_daemon_request "$ROOT/src/daemon/daemon_requests.c" \
	"$ROOT/src/daemon/vm_record.c" "$ROOT/src/lib/json_body.c" "$ROOT/src/lib/size.c" -ljansson
J='application/json'
printf 'create\n%s\n{"name":"web-1","args":["--memory","512M","--disk","/d.img"],"restart":"always","autostart":true}' \
	"$J" >"$CORPUS/seed-create"
printf 'change\n%s\n{"restart":"never","autostart":false,"limits":{"cpu_percent":150,"cpu_weight":200,"memory_max":"1G"}}' \
	"$J" >"$CORPUS/seed-change"
printf 'stop\n%s\n{"timeout":5,"force":true}' "$J" >"$CORPUS/seed-stop"
printf 'stop\n\n' >"$CORPUS/seed-stop-empty"
exec "$OUT/fuzz_daemon_request" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -timeout=10 \
	-rss_limit_mb=2048 "$CORPUS"
