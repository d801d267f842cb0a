#!/bin/sh
# Builds the emu-user ELF loader libFuzzer target with clang (ASan + UBSan) and runs it for
# SECONDS (default 60), seeded with the static busybox binary's headers.
#   usage: tests/fuzz/run_fuzz_elf_user.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build-fuzz}
mkdir -p "$OUT/corpus-elf"
clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$ROOT/src" "$ROOT/src/emu_user/elf_loader.c" \
	"$ROOT/src/emu_user/address_space.c" "$ROOT/src/lib/log.c" \
	"$ROOT/tests/fuzz/fuzz_elf_user.c" -o "$OUT/fuzz_elf_user"
if [ -r /bin/busybox ] && [ ! -e "$OUT/corpus-elf/seed-busybox" ]; then
	head -c 16384 /bin/busybox >"$OUT/corpus-elf/seed-busybox"
fi
exec "$OUT/fuzz_elf_user" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 "$OUT/corpus-elf"
