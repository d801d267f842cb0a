#!/bin/sh
# Builds the state record reader's libFuzzer target (with the device and vCPU loaders) with clang
# (ASan + UBSan) and runs it for SECONDS (default 60), seeded with a valid UART record.
#   usage: tests/fuzz/run_fuzz_state_record.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-state-record"
fuzz_build fuzz_state_record "$ROOT/src/lib/state_record.c" "$ROOT/src/devices/uart16550.c" \
	"$ROOT/src/devices/cmos_rtc.c" "$ROOT/src/devices/i8042.c" "$ROOT/src/devices/io_bus.c" \
	"$ROOT/src/accel/vcpu_state_record.c" "$ROOT/src/devices/pci_host.c" \
	"$ROOT/src/devices/pci_function_state.c" "$ROOT/src/devices/pic.c" \
	"$ROOT/src/devices/ioapic.c" "$ROOT/src/devices/pit.c" \
	"$ROOT/src/lib/log.c" "$ROOT/src/lib/event_loop.c" "$ROOT/src/lib/huge_pages.c" "$ROOT/src/machine/guest_memory.c" \
	"$ROOT/src/virtio/virtqueue.c" "$ROOT/src/virtio/virtio_device.c" \
	"$ROOT/src/virtio/virtio_device_state.c" "$ROOT/src/virtio/virtio_pci.c" \
	"$ROOT/src/virtio/virtio_pci_irq.c" "$ROOT/src/virtio/virtio_pci_state.c" \
	"$ROOT/src/virtio/virtio_rng.c"
if command -v python3 >/dev/null && [ ! -e "$OUT/corpus-state-record/seed-uart" ]; then
	python3 - "$OUT/corpus-state-record/seed-uart" <<'PY'
import struct, sys
def name(s): return bytes([len(s)]) + s.encode()
def u64(k, v): return name(k) + bytes([0x81]) + struct.pack("<IQ", 8, v)
def raw(k, b): return name(k) + bytes([0x82]) + struct.pack("<I", len(b)) + b
body = b"".join(u64(r, 1) for r in ("ier", "lcr", "mcr", "msr", "scr", "dll", "dlm", "fcr"))
body += u64("overrun", 0) + u64("thr_ipending", 1) + raw("rx_fifo", b"ab")
record = name("uart16550") + struct.pack("<III", 1, 1, len(body)) + body
sample = name("sample") + struct.pack("<III", 2, 1, 0)
open(sys.argv[1], "wb").write(record + sample)
PY
fi
exec "$OUT/fuzz_state_record" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus-state-record"
