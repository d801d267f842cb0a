#!/usr/bin/env bash
# Virtio benchmark: gureum vs QEMU microvm (pcie=on: virtio-pci with MSI-X), side by side in one
# nested-lab run (scenario tests/lab/scenarios/vbench.sh), repeated --runs times.
#   bench/virtio.sh [--runs N] [--log FILE] [--qemu-only]   (see bench/README.md; 4-6 minutes a run)
# Each VMM boots the default guest with one raw virtio-blk disk in L1's RAM and one virtio-net
# card on an L1 tap with vhost-net: sequential and random disk I/O at queue depth 1 and 32,
# network throughput both ways and ping latency, a second card on the user network (libslirp,
# --net user vs QEMU's -netdev user: TCP both ways, the second through a port forward, and ping
# round trips), vsock (gureum only: an echo through --vsock's Unix socket), VM exits per MiB / request / ping, VMM RSS.
# Prints a table of each metric's median over the runs per VMM and the ratio of the medians
# gureum/qemu (with N > 1 also each VMM's lowest and highest value). --qemu-only runs the QEMU
# half alone (to check the benchmark itself).
# N defaults to 3 (10-18 minutes on 2 cores; single lab runs vary by +-30-50 %).
# Logs: with --runs 1 FILE (default out/bench/virtio.log); with N > 1 one per run, FILE's name
# with .1, .2, ... before its .log. A run that fails is reported and left out of
# the medians; the script then exits 1 after printing the table of the others.
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/virtio.log
vmm=gureum
runs=3
usage="usage: bench/virtio.sh [--runs N] [--log FILE] [--qemu-only]"
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) runs=${2:?--runs needs a number} && shift 2 ;;
	--log) logfile=${2:?--log needs a file} && shift 2 ;;
	--qemu-only) vmm=qemu && shift ;;
	*) die "unknown argument $1 ($usage)" ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number ($usage)"
mkdir -p "$(dirname "$logfile")"
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ $vmm == qemu || -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make, or set GUREUM_BIN)"

# run_log K: the log of run K.
run_log() {
	if [[ $runs == 1 ]]; then
		echo "$logfile"
	else
		echo "${logfile%.log}.$1.log"
	fi
}

values= # "VBENCH VMM METRIC VALUE" lines of the runs that passed, prefixed by the run's number
passed=0
failed=()
for ((k = 1; k <= runs; k++)); do
	runlog=$(run_log "$k")
	log "run $k of $runs (log: $runlog)"
	if "$GUREUM_ROOT/scripts/lab.sh" --vmm "$vmm" --log "$runlog" vbench >&2; then
		passed=$((passed + 1))
		values+=$(tr -d '\r' <"$runlog" | grep -a '^VBENCH ' | sed "s/^/$k /")$'\n'
	else
		tr -d '\r' <"$runlog" | grep -a -v "TCG doesn't support requested feature" |
			tail -n 60 >&2
		log "run $k failed (L1 log: $runlog)"
		failed+=("$k")
	fi
done
((passed > 0)) || die "every benchmark run failed (last L1 log: $(run_log "$runs"))"

row() { # row LABEL METRIC: the medians of METRIC (and with several runs its range) per VMM
	awk -v l="$1" -v m="$2" -v several=$((runs > 1)) '
	function median(vmm,    n, i, j, t, a) {
		n = split(vals[vmm], a, " ")
		if (n == 0)
			return "-"
		for (i = 2; i <= n; i++)  # insertion sort: a handful of runs
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		lo[vmm] = a[1]; hi[vmm] = a[n]
		return n % 2 ? a[(n + 1) / 2] : fmt((a[n / 2] + a[n / 2 + 1]) / 2)
	}
	function fmt(v) { return v == int(v) ? sprintf("%d", v) : sprintf("%.2f", v) }
	function range(vmm) { return vmm in lo ? lo[vmm] "-" hi[vmm] : "-" }
	$4 == m && $5 ~ /^[0-9]+(\.[0-9]+)?$/ { vals[$3] = vals[$3] " " $5 }
	END {
		g = median("gureum"); q = median("qemu")
		r = (g != "-" && q != "-" && q + 0 > 0) ? sprintf("%.2f", g / q) : "-"
		printf "%-36s %10s %10s %12s", l, g, q, r
		if (several)
			printf " %19s %19s", range("gureum"), range("qemu")
		printf "\n"
	}' <<<"$values"
}

if ((runs > 1)); then
	echo "virtio-blk + virtio-net, 1 vCPU, 256M, nested lab (L2 clock; L1 is QEMU TCG);" \
		"medians of $passed run(s)"
	printf '%-36s %10s %10s %12s %19s %19s\n' metric gureum qemu gureum/qemu \
		"gureum min-max" "qemu min-max"
else
	echo "virtio-blk + virtio-net, 1 vCPU, 256M, nested lab (L2 clock; L1 is QEMU TCG)"
	printf '%-36s %10s %10s %12s\n' metric gureum qemu gureum/qemu
fi
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
row "seq write 1M QD32 (MB/s)" seq_write_qd32_mbs
row "  exits per MiB" seq_write_qd32_mbs_exits_per_mib
row "seq read 1M QD32 (MB/s)" seq_read_qd32_mbs
row "  exits per MiB" seq_read_qd32_mbs_exits_per_mib
row "rand read 4k QD32 (IOPS)" randread_qd32_iops
row "  mean latency (us)" randread_qd32_lat_us
row "  exits per request" randread_qd32_exits_per_op
row "net guest->L1 TCP (MB/s)" net_tx_mbs
row "  exits per MiB" net_tx_mbs_exits_per_mib
row "net L1->guest TCP (MB/s)" net_rx_mbs
row "  exits per MiB" net_rx_mbs_exits_per_mib
row "ping guest->L1 avg rtt (us)" ping_rtt_us
row "  exits per ping" ping_exits_per_ping
row "user net guest->L1 TCP (MB/s)" user_tx_mbs
row "user net L1->guest TCP (MB/s)" user_rx_mbs
row "user net ping guest->L1 rtt (us)" user_ping_rtt_us
row "vsock echo L1->guest->L1 (MB/s)" vsock_echo_mbs
row "boot to shell (s)" boot_to_shell_s
row "VMM RSS after boot (KiB)" rss_after_boot_kb
row "VMM peak RSS VmHWM (KiB)" rss_peak_kb
if ((runs > 1)); then
	logs=$(for ((k = 1; k <= runs; k++)); do run_log "$k"; done | tr '\n' ' ')
	echo "(medians of $passed of $runs runs; higher is better for MB/s and IOPS, lower for the" \
		"rest. Raw lines: ${logs% })"
else
	echo "(single run; higher is better for MB/s and IOPS, lower for the rest. Raw lines: $logfile)"
fi
if ((${#failed[@]} > 0)); then
	log "run(s) ${failed[*]} failed and are not in the medians"
	exit 1
fi
