#!/bin/sh
# Builds the saved-VM stream reader's libFuzzer target with clang (ASan + UBSan; checksums not
# enforced, see the target) and runs it for SECONDS (default 60), seeded with a small valid
# stream (a record section, two memory sections with zero and stored pages, a pending section,
# the end).
#   usage: tests/fuzz/run_fuzz_state_stream.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-state-stream"
fuzz_build fuzz_state_stream -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
	"$ROOT/src/lib/state_stream.c" "$ROOT/src/lib/state_record.c" -lzstd -lz
if [ ! -e "$OUT/corpus-state-stream/seed" ]; then
	cat >"$OUT/seed-writer.c" <<'C'
#include "lib/state_stream.h"
#include <fcntl.h>
#include <string.h>
int main(int argc, char **argv)
{
	static unsigned char ram[4 * 4096 + 8 * 4096];
	memset(ram + 4096, 0x5c, 4096);
	memset(ram + 5 * 4096, 0x11, 2 * 4096);
	struct state_writer w;
	char err[200];
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct state_out out;
	state_out_init(&out, fd, 0);
	state_writer_init(&w);
	state_record_begin(&w, "sample", 1, 1);
	state_put_u64(&w, "a", 1, STATE_ESSENTIAL);
	state_put_bytes(&w, "b", "xy", 2, 0);
	state_record_end(&w);
	return state_stream_write_header(&out, err, sizeof(err)) ||
	       state_stream_write_records(&out, &w, err, sizeof(err)) ||
	       state_stream_write_memory(&out, 0, ram, 4 * 4096, true, err, sizeof(err)) ||
	       state_stream_write_memory(&out, 1 << 20, ram + 4 * 4096, 8 * 4096, false, err, sizeof(err)) ||
	       state_stream_write_pending(&out, 2 << 20, 8 * 4096, (const uint64_t[]){0x85}, err, sizeof(err)) ||
	       state_stream_write_end(&out, err, sizeof(err));
}
C
	clang -std=gnu11 -D_GNU_SOURCE -I"$ROOT/src" "$OUT/seed-writer.c" \
		"$ROOT/src/lib/state_stream.c" "$ROOT/src/lib/state_record.c" -lzstd -lz \
		-o "$OUT/seed-writer"
	"$OUT/seed-writer" "$OUT/corpus-state-stream/seed"
fi
exec "$OUT/fuzz_state_stream" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus-state-stream"
