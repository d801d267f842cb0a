#!/usr/bin/env bash
# VM-to-VM benchmark on a virtual switch: two gureum guests on one VLAN of a gureum switch,
# then two QEMU microvm guests on the same kernel's plain bridge, both with vhost-net, in one
# nested-lab run (scenario tests/lab/scenarios/swbench.sh; about 5 minutes).
#   bench/switch.sh [--log FILE]     (default log: out/bench/switch.log)
# Prints each metric for both VMMs and their ratio. Single lab runs vary by +-30-50 %.
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

logfile=$GUREUM_ROOT/out/bench/switch.log
[[ ${1:-} == --log ]] && logfile=${2:?--log needs a file}
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make, or set GUREUM_BIN)"
mkdir -p "$(dirname "$logfile")"
"$GUREUM_ROOT/scripts/lab.sh" --log "$logfile" swbench >&2 ||
	die "the benchmark failed (L1 log: $logfile)"
echo "VM to VM on a switch, 1 vCPU each, vhost-net, nested lab (L2 clock; L1 is QEMU TCG)"
printf '%-36s %10s %10s %12s\n' metric gureum qemu gureum/qemu
tr -d '\r' <"$logfile" | grep -a '^VBENCH ' | awk '
	{ v[$2 " " $3] = $4; if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 } }
	END {
		label["vm_to_vm_mbs"] = "TCP guest -> guest (MB/s)"
		label["vm_to_vm_ping_rtt_us"] = "ping guest -> guest rtt (us)"
		for (i = 0; i < n; i++) {
			m = order[i]; g = v["gureum " m]; q = v["qemu " m]
			printf "%-36s %10s %10s %12s\n", label[m], g, q, (q > 0 ? sprintf("%.2f", g / q) : "-")
		}
	}'
echo "(single run; higher is better for MB/s, lower for the rest. Raw lines: $logfile)"
