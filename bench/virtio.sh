#!/usr/bin/env bash
# Virtio benchmark: gureum vs QEMU microvm (pcie=on: virtio-pci with MSI-X), side by side in one
# nested-lab run (scenario tests/lab/scenarios/vbench.sh).
#   bench/virtio.sh [--log FILE] [--qemu-only]     (see bench/README.md; 3-6 minutes)
# Each VMM boots the default guest with one raw virtio-blk disk in L1's RAM and one virtio-net
# card on an L1 tap with vhost-net: sequential and random disk I/O, network throughput both ways
# and ping latency, VM exits per MiB / request / ping, VMM RSS. Prints a table with the ratio
# gureum/qemu. --qemu-only runs the QEMU half alone (to check the benchmark itself).
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/virtio.log
vmm=gureum
while [[ $# -gt 0 ]]; do
	case $1 in
	--log) logfile=${2:?--log needs a file} && shift 2 ;;
	--qemu-only) vmm=qemu && shift ;;
	*) die "unknown argument $1 (usage: bench/virtio.sh [--log FILE] [--qemu-only])" ;;
	esac
done
mkdir -p "$(dirname "$logfile")"
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ $vmm == qemu || -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make, or set GUREUM_BIN)"

if ! "$GUREUM_ROOT/scripts/lab.sh" --vmm "$vmm" --log "$logfile" vbench >&2; then
	tr -d '\r' <"$logfile" | grep -a -v "TCG doesn't support requested feature" | tail -n 60 >&2
	die "the benchmark run failed (L1 log: $logfile)"
fi

# value VMM METRIC: a "VBENCH VMM METRIC VALUE" line's value from the log, "-" when absent.
values=$(tr -d '\r' <"$logfile" | grep -a '^VBENCH ')
value() {
	awk -v vmm="$1" -v m="$2" '$2 == vmm && $3 == m { v = $4 } END { print (v == "" ? "-" : v) }' \
		<<<"$values"
}

row() { # row LABEL METRIC
	local g q
	g=$(value gureum "$2")
	q=$(value qemu "$2")
	awk -v l="$1" -v g="$g" -v q="$q" 'BEGIN {
		num = "^[0-9]+(\\.[0-9]+)?$"
		r = (g ~ num && q ~ num && q > 0) ? sprintf("%.2f", g / q) : "-"
		printf "%-36s %10s %10s %12s\n", l, g, q, r
	}'
}

echo "virtio-blk + virtio-net, 1 vCPU, 256M, nested lab (L2 clock; L1 is QEMU TCG)"
printf '%-36s %10s %10s %12s\n' metric gureum qemu gureum/qemu
row "seq write 1M O_DIRECT (MB/s)" seq_write_mbs
row "  exits per MiB" seq_write_mbs_exits_per_mib
row "seq read 1M O_DIRECT (MB/s)" seq_read_mbs
row "  exits per MiB" seq_read_mbs_exits_per_mib
row "rand read 4k QD1 (IOPS)" randread_iops
row "  mean latency (us)" randread_lat_us
row "  exits per request" randread_exits_per_op
row "rand write 4k QD1 (IOPS)" randwrite_iops
row "  mean latency (us)" randwrite_lat_us
row "  exits per request" randwrite_exits_per_op
row "net guest->L1 TCP (MB/s)" net_tx_mbs
row "  exits per MiB" net_tx_mbs_exits_per_mib
row "net L1->guest TCP (MB/s)" net_rx_mbs
row "  exits per MiB" net_rx_mbs_exits_per_mib
row "ping guest->L1 avg rtt (us)" ping_rtt_us
row "  exits per ping" ping_exits_per_ping
row "boot to shell (s)" boot_to_shell_s
row "VMM RSS after boot (KiB)" rss_after_boot_kb
row "VMM peak RSS VmHWM (KiB)" rss_peak_kb
echo "(single run; higher is better for MB/s and IOPS, lower for the rest. Raw lines: $logfile)"
