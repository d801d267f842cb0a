#!/bin/sh
# Builds the CPU model libFuzzer target (--cpu-model specifications and `gureum cpu host`
# files) with clang (ASan + UBSan) and runs it for SECONDS (default 60), seeded with a few
# specifications and a host file.
#   usage: tests/fuzz/run_fuzz_cpu_model.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
CORPUS="$OUT/corpus-cpu-model"
mkdir -p "$CORPUS"
fuzz_build fuzz_cpu_model "$ROOT/src/accel/cpu_models.c" "$ROOT/src/accel/cpu_features.c" \
	"$ROOT/src/cmd/cpu_host_file.c" -ljansson
HOST='{"vendor":"AuthenticAMD","accel":"kvm","words":{"1.ecx":"0xf6f83203","1.edx":"0x178bfbff","7.0.ebx":"0x219c01ab","7.0.ecx":"0x0040068c","7.0.edx":"0x00000010","7.1.eax":"0x00000000","0xd.1.eax":"0x0000000f","0x80000001.ecx":"0x000003f3","0x80000001.edx":"0x2fd3fbff"}}'
printf 'x86-64-v3,+aes,-avx2\000%s' "$HOST" >"$CORPUS/seed-v3"
printf 'host,-sse4_2\000%s' "$HOST" >"$CORPUS/seed-host"
printf 'amd-zen3' >"$CORPUS/seed-zen3"
exec "$OUT/fuzz_cpu_model" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
	-rss_limit_mb=2048 "$CORPUS"
