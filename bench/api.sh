#!/usr/bin/env bash
# The control socket of a running VM: gureum's REST API (--api-socket) beside QEMU's QMP, on
# the same host, the same default guest, one after the other (bench/README.md, "api.sh").
#   bench/api.sh [--rounds N]      (needs build/gureum, the guest image, qemu-system-x86_64,
#                                   python3; ~30 s)
# - ready: from starting the VMM to the first status answered on its socket, wall ms and the
#   CPU ms of all its threads by then (/proc/PID/task/*/schedstat);
# - status: N status requests in a row on one connection (GET /api/v1/vm; QMP query-status),
#   median and 99th percentile latency, requests per second.
# Both boot the guest on the software CPU (gureum --accel emu, QEMU TCG), so the numbers do not
# depend on /dev/kvm; the guest runs meanwhile, as it would in production.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUREUM=${GUREUM_BIN:-$ROOT/build/gureum}
GUEST=$ROOT/out/guest
ROUNDS=2000
[[ ${1:-} == --rounds ]] && ROUNDS=$2
for need in "$GUREUM" "$GUEST/vmlinuz" "$GUEST/initramfs.cpio.gz"; do
	[[ -e $need ]] || { echo "bench/api.sh: $need is missing (make build guest)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "bench/api.sh: needs qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/api.sh: needs python3 (apt-get install python3)" >&2; exit 1; }
CLIENT="python3 $ROOT/bench/api_client.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CMDLINE='console=ttyS0 quiet'

$CLIENT gureum "$WORK/gureum.sock" "$ROUNDS" "$WORK/gureum.log" -- \
	"$GUREUM" run --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz" \
	--cmdline "$CMDLINE" --accel emu --memory 256M --console none \
	--api-socket "$WORK/gureum.sock" | tee "$WORK/results"
$CLIENT qmp "$WORK/qmp.sock" "$ROUNDS" "$WORK/qemu.log" -- \
	qemu-system-x86_64 -M microvm,accel=tcg -m 256M -nodefaults -no-user-config \
	-display none -serial null -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.cpio.gz" \
	-append "$CMDLINE" -qmp "unix:$WORK/qmp.sock,server=on,wait=off" | tee -a "$WORK/results"

echo
printf '%-16s %12s %12s\n' metric gureum "QEMU QMP"
for m in ready_wall_ms ready_cpu_ms status_p50_us status_p99_us status_per_s; do
	printf '%-16s %12s %12s\n' "$m" "$(awk -v m=$m '$2 == "gureum" && $3 == m { print $4 }' "$WORK/results")" \
		"$(awk -v m=$m '$2 == "qmp" && $3 == m { print $4 }' "$WORK/results")"
done
