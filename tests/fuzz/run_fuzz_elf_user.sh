#!/bin/sh
# Builds the emu-user ELF loader libFuzzer target with clang (ASan + UBSan) and runs it for
# SECONDS (default 60), seeded with the static busybox binary's headers.
#   usage: tests/fuzz/run_fuzz_elf_user.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-elf"
fuzz_build fuzz_elf_user "$ROOT/src/emu_user/elf_loader.c" "$ROOT/src/emu_user/address_space.c" \
	"$ROOT/src/lib/log.c"
if [ -r /bin/busybox ] && [ ! -e "$OUT/corpus-elf/seed-busybox" ]; then
	head -c 16384 /bin/busybox >"$OUT/corpus-elf/seed-busybox"
fi
exec "$OUT/fuzz_elf_user" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 "$OUT/corpus-elf"
