#!/bin/sh
# Builds the state record reader's libFuzzer target (with the device, vCPU and KVM VM-state
# loaders) with clang (ASan + UBSan) and runs it for SECONDS (default 60), seeded with a valid
# UART record and a valid set of KVM VM-state records.
#   usage: tests/fuzz/run_fuzz_state_record.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus-state-record"
fuzz_build fuzz_state_record "$ROOT/src/lib/state_record.c" "$ROOT/src/devices/uart16550.c" \
	"$ROOT/src/devices/cmos_rtc.c" "$ROOT/src/devices/i8042.c" "$ROOT/src/devices/io_bus.c" \
	"$ROOT/src/devices/ps2_keyboard.c" "$ROOT/src/devices/ps2_scancodes.c" \
	"$ROOT/src/accel/vcpu_state_record.c" "$ROOT/src/devices/pci_host.c" \
	"$ROOT/src/devices/pci_function_state.c" "$ROOT/src/devices/pic.c" \
	"$ROOT/src/devices/ioapic.c" "$ROOT/src/devices/pit.c" \
	"$ROOT/src/accel/kvm/kvm_vm_state_record.c" "$ROOT/src/vmm/irqchip_translate.c" \
	"$ROOT/src/lib/log.c" "$ROOT/src/lib/event_loop.c" "$ROOT/src/lib/huge_pages.c" "$ROOT/src/machine/guest_memory.c" \
	"$ROOT/src/virtio/virtqueue.c" "$ROOT/src/virtio/virtio_device.c" \
	"$ROOT/src/virtio/virtio_device_state.c" "$ROOT/src/virtio/virtio_pci.c" \
	"$ROOT/src/virtio/virtio_pci_irq.c" "$ROOT/src/virtio/virtio_pci_state.c" \
	"$ROOT/src/virtio/virtio_rng.c"
if command -v python3 >/dev/null && [ ! -e "$OUT/corpus-state-record/seed-kvm" ]; then
	python3 - "$OUT/corpus-state-record/seed-uart" "$OUT/corpus-state-record/seed-kvm" <<'PY'
import struct, sys
def name(s): return bytes([len(s)]) + s.encode()
def u64(k, v): return name(k) + bytes([0x81]) + struct.pack("<IQ", 8, v)
def raw(k, b): return name(k) + bytes([0x82]) + struct.pack("<I", len(b)) + b
body = b"".join(u64(r, 1) for r in ("ier", "lcr", "mcr", "msr", "scr", "dll", "dlm", "fcr"))
body += u64("overrun", 0) + u64("thr_ipending", 1) + raw("rx_fifo", b"ab")
record = name("uart16550") + struct.pack("<III", 1, 1, len(body)) + body
sample = name("sample") + struct.pack("<III", 2, 1, 0)
open(sys.argv[1], "wb").write(record + sample)
def rec(n, fields): return name(n) + struct.pack("<III", 1, 1, len(fields)) + fields
pic = raw("master", bytes(5) + b"\x20" + bytes(8) + b"\x00\xf8")
pic += raw("slave", bytes(5) + b"\x28" + bytes(8) + b"\x00\xde")
io = u64("base_address", 0xfec00000) + u64("id", 0) + u64("ioregsel", 0) + u64("irr", 0)
io += raw("redirtbl", struct.pack("<Q", 0x10000) * 24)
ch = struct.pack("<IH", 0x10000, 0) + bytes([0, 0, 0, 0, 0, 0, 0, 0xff, 0, 1])
pit = raw("ch0", ch) + raw("ch1", ch) + raw("ch2", ch) + u64("flags", 0)
clock = u64("clock", 10**9) + name("realtime") + bytes([1]) + struct.pack("<IQ", 8, 2 * 10**18)
kvm = rec("kvm-pic", pic) + rec("kvm-ioapic", io) + rec("kvm-pit", pit) + rec("kvm-clock", clock)
open(sys.argv[2], "wb").write(kvm)
PY
fi
exec "$OUT/fuzz_state_record" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus-state-record"
