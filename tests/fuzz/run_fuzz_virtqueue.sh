#!/bin/sh
# Builds the split-virtqueue libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60), seeded with a few well-formed queues (direct, indirect and mixed chains, event
# idx, indices about to wrap) so that mutations start deep inside valid rings.
#   usage: tests/fuzz/run_fuzz_virtqueue.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-virtqueue"
fuzz_build fuzz_virtqueue "$ROOT/src/virtio/virtqueue.c" "$ROOT/src/machine/guest_memory.c" "$ROOT/src/lib/huge_pages.c"
if command -v python3 >/dev/null && [ ! -e "$OUT/corpus-virtqueue/seed-4" ]; then
	python3 - "$OUT/corpus-virtqueue" <<'PY'
import struct, sys
# Layout of the fuzz input: see tests/fuzz/fuzz_virtqueue.c.
DESC, AVAIL, USED, TABLE, BUF = 0x100, 0x200, 0x300, 0x1000, 0x1800
NEXT, WRITE, INDIRECT = 1, 2, 4

def seed(name, size_log2, features, start_idx, script, descs, table, heads, long_table=0):
    mem = bytearray(0x4000)
    for i in range(long_table):  # at 0x2000: a chain of long_table one-byte buffers
        last = i + 1 == long_table
        struct.pack_into("<QIHH", mem, 0x2000 + 16 * i, BUF + i, 1, 0 if last else NEXT, i + 1)
    for i, (addr, length, flags, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", mem, DESC + 16 * i, addr, length, flags, nxt)
    for i, (addr, length, flags, nxt) in enumerate(table):
        struct.pack_into("<QIHH", mem, TABLE + 16 * i, addr, length, flags, nxt)
    size = 1 << size_log2
    for i, head in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * ((start_idx + i) % size), head)
    struct.pack_into("<HH", mem, AVAIL, 0, (start_idx + len(heads)) & 0xffff)
    header = struct.pack("<BBHHHH6s", size_log2, features, DESC, AVAIL, USED, start_idx,
                         bytes(script))
    open(f"{sys.argv[1]}/{name}", "wb").write(header + bytes(mem))

direct = [(BUF, 16, NEXT, 1), (BUF + 0x100, 64, WRITE, 0), (TABLE, 48, INDIRECT, 0),
          (BUF + 0x200, 8, NEXT, 4), (TABLE + 0x100, 16, INDIRECT, 0)]
table = [(BUF + 0x300, 12, NEXT, 1), (BUF + 0x400, 0, NEXT, 2), (BUF + 0x500, 100, WRITE, 0)]
table += [(0, 0, 0, 0)] * 13 + [(BUF + 0x600, 20, WRITE, 0)]
seed("seed-0", 3, 0, 0, [0, 0, 0, 0x60, 0x80, 0xa0], direct, table, [0, 2, 3])
seed("seed-1", 3, 3, 0, [0x08, 0x08, 0x60, 0x80, 0xa0, 0xc0], direct, table, [0, 2, 3])
seed("seed-2", 4, 3, 65534, [0, 0x08, 0x60, 0x00, 0x80, 0xc0], direct, table, [3, 0, 2, 0])
seed("seed-3", 8, 1, 65535, [0, 0xa0, 0, 0xc0, 0x60, 0xe0], direct, table, [0, 0, 0])
# The longest chain allowed (256 buffers in an indirect table), and one more (a direct buffer
# before the same table).
longest = direct + [(0x2000, 256 * 16, INDIRECT, 0), (BUF, 1, NEXT, 5)]
seed("seed-4", 3, 2, 0, [0, 0, 0, 0, 0, 0], longest, table, [5, 6], 256)
PY
fi
exec "$OUT/fuzz_virtqueue" -max_total_time="$SECONDS_TO_RUN" -max_len=16400 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus-virtqueue"
