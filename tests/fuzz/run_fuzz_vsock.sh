#!/bin/sh
# Builds the virtio-vsock libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (default 60), seeded with a host CONNECT answered by the guest, a guest connection to the
# host listener at PATH_1 with data both ways, and a few malformed packets.
#   usage: tests/fuzz/run_fuzz_vsock.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-vsock"
fuzz_build fuzz_vsock "$ROOT/src/virtio/virtio_vsock.c" "$ROOT/src/virtio/vsock_connection.c" \
	"$ROOT/src/virtio/vsock_device.c" \
	"$ROOT/src/virtio/virtio_device.c" "$ROOT/src/virtio/virtqueue.c" \
	"$ROOT/src/machine/guest_memory.c" "$ROOT/src/lib/huge_pages.c" \
	"$ROOT/src/lib/event_loop.c" "$ROOT/src/lib/log.c" "$ROOT/src/lib/state_record.c" \
	"$ROOT/src/lib/unix_listener.c"
if command -v python3 >/dev/null && [ ! -e "$OUT/corpus-vsock/seed-2" ]; then
	python3 - "$OUT/corpus-vsock" <<'PY'
import struct, sys
# Layout of the fuzz input: see tests/fuzz/fuzz_vsock.c (step kinds 0-5).
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7

def pkt(op, src_port, dst_port, payload=b"", flags=7, buf_alloc=65536, fwd_cnt=0, sflags=0):
    hdr = struct.pack("<QQIIIHHIII", 3, 2, src_port, dst_port, len(payload), 1, op, sflags,
                      buf_alloc, fwd_cnt)
    return bytes([0, flags]) + hdr + struct.pack("<H", len(payload)) + payload

def write(name, steps):
    open(f"{sys.argv[1]}/{name}", "wb").write(b"".join(steps))

LOCAL = 1 << 30
# A host CONNECT 1, the guest's RESPONSE, host bytes, guest bytes, shutdowns.
write("seed-0", [bytes([1, 0, 1]), bytes([3, 9]), pkt(RESPONSE, 1, LOCAL),
                 bytes([2, 0, 4]), bytes([3, 9]), pkt(RW, 1, LOCAL, b"hello"),
                 pkt(CREDIT_REQUEST, 1, LOCAL), bytes([5]),
                 pkt(SHUTDOWN, 1, LOCAL, sflags=3), bytes([3, 9])])
# The guest connects to port 1 (a listener), sends, the host answers and closes.
write("seed-1", [pkt(REQUEST, 1025, 1), bytes([5]), pkt(RW, 1025, 1, b"x" * 300),
                 bytes([2, 0, 8]), bytes([3, 9]), pkt(CREDIT_UPDATE, 1025, 1, fwd_cnt=512),
                 bytes([2, 0, 3]), bytes([3, 9]), pkt(RST, 1025, 1)])
# Malformed: short chain, wrong CID, bad len, unknown op, split header, small rx buffers.
write("seed-2", [pkt(REQUEST, 1026, 2, flags=7 | 16), pkt(REQUEST, 1026, 2, flags=6),
                 pkt(RW, 1026, 1, b"abc", flags=5), pkt(42, 1026, 1),
                 pkt(REQUEST, 1027, 1, flags=7 | 8), bytes([3, 2]), bytes([4])])
PY
fi
"$OUT/fuzz_vsock" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -max_len=4096 \
	"$OUT/corpus-vsock"
