#!/usr/bin/env bash
# The VNC display beside QEMU 7.2's built-in VNC server: the same guest under gureum
# (--display vnc=..., the EFI framebuffer, 720x400) and under QEMU (-M pc -vga std -vnc, VGA
# text mode, 720x400), one after the other in one nested-lab run with KVM (scenario
# tests/lab/scenarios/dispbench.sh; about 10 minutes): an idle console for 60 s, then 500 lines
# of scrolling text, then the latency from a console line to the client's update.
#   bench/display.sh [--log FILE]    (default log: out/bench/display.log)
# Prints each metric for both VMMs and their ratio. A single run; L1 is QEMU TCG, so CPU times
# are much larger than on hardware: compare the two VMMs, not with other machines.
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/display.log
[[ ${1:-} == --log ]] && logfile=${2:?--log needs a file}
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make, or set GUREUM_BIN)"
mkdir -p "$(dirname "$logfile")"
"$GUREUM_ROOT/scripts/lab.sh" --log "$logfile" dispbench >&2 ||
	die "the benchmark failed (L1 log: $logfile)"
echo "VNC display, gureum vs QEMU 7.2, 1 vCPU, KVM in the nested lab (L1 is QEMU TCG)"
printf '%-40s %10s %10s %12s\n' metric gureum qemu gureum/qemu
tr -d '\r' <"$logfile" | grep -a '^DBENCH ' | awk '
	{ v[$2 " " $3] = $4; if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 } }
	END {
		label["idle_bytes"] = "idle 60 s: bytes to the client"
		label["idle_updates"] = "idle 60 s: updates"
		label["idle_cpu_ms"] = "idle 60 s: VMM CPU outside guest (ms)"
		label["idle_cpu_with_guest_ms"] = "idle 60 s: VMM CPU with guest (ms)"
		label["scroll_bytes"] = "500 lines scrolled: bytes"
		label["scroll_updates"] = "500 lines scrolled: updates"
		label["scroll_cpu_ms"] = "500 lines: VMM CPU outside guest (ms)"
		label["latency_median_ms"] = "console line to update, median (ms)"
		label["latency_missed"] = "  of 10, no update within 5 s"
		for (i = 0; i < n; i++) {
			m = order[i]; g = v["gureum " m]; q = v["qemu " m]
			printf "%-40s %10s %10s %12s\n", label[m], g, q, (q > 0 ? sprintf("%.2f", g / q) : "-")
		}
	}'
echo "(single run; lower is better everywhere. Raw lines: $logfile)"
