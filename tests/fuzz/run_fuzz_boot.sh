#!/bin/sh
# Builds the kernel-loader libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60), seeded with tiny kernels of each format built by the project (tests/guests).
#   usage: tests/fuzz/run_fuzz_boot.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-boot"
SRC="$ROOT/src/machine/boot*.c $ROOT/src/machine/file_image.c $ROOT/src/machine/elf_image.c
     $ROOT/src/machine/multiboot_header.c $ROOT/src/machine/e820.c $ROOT/src/machine/screen_info.c
     $ROOT/src/machine/guest_memory.c $ROOT/src/lib/huge_pages.c $ROOT/src/accel/vcpu_state.c $ROOT/src/lib/log.c"
# shellcheck disable=SC2086
fuzz_build fuzz_boot $SRC
# Seeds: the guest payloads (multiboot ELF and a.out, PVH ELF) when a build has made them.
for seed in "$ROOT"/build/tests/guests/*.elf "$ROOT"/build/tests/guests/*aout*.bin; do
	[ -f "$seed" ] && cp "$seed" "$OUT/corpus-boot/"
done
exec "$OUT/fuzz_boot" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 "$OUT/corpus-boot"
