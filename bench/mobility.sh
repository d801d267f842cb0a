#!/usr/bin/env bash
# VM mobility benchmark: gureum against QEMU microvm on the same guest in one nested-lab run
# (scenario tests/lab/scenarios/mbench.sh): saving a VM (snapshot / migrate to a file), how
# soon a restored VM answers, and a live migration's total time and pause.
#   bench/mobility.sh [--log FILE] [--qemu-only]   (about 5 minutes)
# Prints one table of the figures and the ratio gureum/qemu (lower is better everywhere).
# The L1 log with the raw "MBENCH" lines: FILE (default out/bench/mobility.log).
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/mobility.log
vmm=gureum
while [[ $# -gt 0 ]]; do
	case $1 in
	--log) logfile=${2:?--log needs a file} && shift 2 ;;
	--qemu-only) vmm=qemu && shift ;;
	*) die "unknown argument $1 (usage: bench/mobility.sh [--log FILE] [--qemu-only])" ;;
	esac
done
mkdir -p "$(dirname "$logfile")"
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ $vmm == qemu || -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make, or set GUREUM_BIN)"

if ! "$GUREUM_ROOT/scripts/lab.sh" --vmm "$vmm" --log "$logfile" mbench >&2; then
	tr -d '\r' <"$logfile" | grep -a -v "TCG doesn't support requested feature" | tail -n 60 >&2
	die "the benchmark run failed (L1 log: $logfile)"
fi
values=$(tr -d '\r' <"$logfile" | grep -a '^MBENCH ')

row() { # row LABEL METRIC
	awk -v l="$1" -v m="$2" '
	$3 == m { v[$2] = $4 }
	END {
		g = ("gureum" in v) ? v["gureum"] : "-"; q = ("qemu" in v) ? v["qemu"] : "-"
		r = (g != "-" && q != "-" && q + 0 > 0) ? sprintf("%.2f", g / q) : "-"
		printf "%-34s %10s %10s %12s\n", l, g, q, r
	}' <<<"$values"
}

echo "VM mobility, 1 vCPU, 256M with 64 MiB of data, nested lab (L1 is QEMU TCG; KVM in L1)"
printf '%-34s %10s %10s %12s\n' metric gureum qemu gureum/qemu
row "save: time (ms)" save_ms
row "save: on disk (MiB)" saved_mib
row "restore: start to shell (ms)" restore_to_shell_ms
row "live migration: total (ms)" migrate_total_ms
row "live migration: pause (ms)" migrate_downtime_ms
row "post-copy at once: pause (ms)" postcopy_pause_ms
row "post-copy at once: pages (ms)" postcopy_total_ms
echo "(single run; lower is better; QEMU's post-copy is not measured. Raw lines: $logfile)"
