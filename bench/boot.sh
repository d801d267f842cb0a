#!/usr/bin/env bash
# Boot benchmark: gureum vs QEMU microvm (accel=kvm), side by side in one nested-lab run.
#   bench/boot.sh [--log FILE]        (see bench/README.md for what is measured and how)
# Both boot the default guest (same kernel, initramfs, command line, 256M, 1 vCPU) to its
# ready marker, then poweroff -f. Prints a table with both VMMs and the ratio gureum/qemu.
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/boot.log
[[ ${1:-} == --log ]] && logfile=${2:?--log needs a file}
mkdir -p "$(dirname "$logfile")"
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make)"

if ! "$GUREUM_ROOT/scripts/lab.sh" --log "$logfile" bench >&2; then
	tr -d '\r' <"$logfile" | grep -a -v "TCG doesn't support requested feature" | tail -n 60 >&2
	die "the benchmark run failed (L1 log: $logfile)"
fi

# value VMM METRIC: a "BENCH VMM METRIC VALUE" line's value from the log, "-" when absent.
values=$(tr -d '\r' <"$logfile" | grep -a '^BENCH ')
value() {
	awk -v vmm="$1" -v m="$2" '$2 == vmm && $3 == m { v = $4 } END { print (v == "" ? "-" : v) }' \
		<<<"$values"
}

row() { # row LABEL METRIC [GUREUM-METRIC-SOURCE]
	local g q
	g=$(value "${3:-gureum}" "$2")
	q=$(value qemu "$2")
	awk -v l="$1" -v g="$g" -v q="$q" 'BEGIN {
		r = (g ~ /^[0-9]+$/ && q ~ /^[0-9]+$/ && q > 0) ? sprintf("%.2f", g / q) : "-"
		printf "%-40s %12s %12s %10s\n", l, g, q, r
	}'
}

echo "boot to ready marker + poweroff -f, 1 vCPU, 256M, nested lab (L1 clock: QEMU TCG)"
printf '%-40s %12s %12s %10s\n' metric gureum qemu gureum/qemu
row "wall to ready marker (ms)" ready_ms
row "wall to VMM exit (ms)" total_ms
row "VM exits (debugfs, at ready)" exits
row "  io_exits" io_exits
row "  mmio_exits" mmio_exits
row "  halt_exits" halt_exits
row "  irq_injections" irq_injections
row "VMM peak RSS VmHWM (KiB)" peak_rss_kb
row "start-up to first KVM_RUN (us, strace)" startup_us
row "start-up, gureum --stats (us)" vmm_startup_us gureum-stats
echo "(single run; L1 wall times vary by ~±30% from run to run, exit counts by a few %)"
