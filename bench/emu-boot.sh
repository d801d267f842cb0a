#!/usr/bin/env bash
# The software CPU beside QEMU's TCG, on this host, in one run: the default guest (Debian cloud
# kernel + busybox initramfs, 512M) from power-on to its shell prompt, a CPU-bound job inside
# it (sha256sum of 64 MiB from /dev/zero), and poweroff -f; wall and CPU time of each VMM,
# and gureum's MIPS (its --stats). QEMU runs as q35 (SeaBIOS) and microvm (qboot), both
# -accel tcg; microvm with its legacy PIT/PIC/RTC and without ACPI: with its default ACPI the
# kernel finds no TSC reference under TCG and prints nothing more for minutes (seen here).
# Each configuration runs RUNS times (default 3); the table shows medians.
#   bench/emu-boot.sh [--runs N] [--cpus N] [--vmm gureum|qemu-q35|qemu-microvm]...
set -euo pipefail
LOG_TAG=bench
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lab-common.sh"

runs=3
cpus=1
vmms=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) runs=$2 && shift 2 ;;
	--cpus) cpus=$2 && shift 2 ;;
	--vmm) vmms+=("$2") && shift 2 ;;
	*) die "unknown option $1 (see the comment at the top of $0)" ;;
	esac
done
[[ ${#vmms[@]} -gt 0 ]] || vmms=(gureum qemu-q35 qemu-microvm)
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
GUEST=$GUREUM_ROOT/out/guest
[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make)"
need_cmd qemu-system-x86_64 qemu-system-x86
"$GUREUM_ROOT/scripts/guest-image.sh" "$GUEST" >&2
CMDLINE="console=ttyS0 quiet"
PROMPT='gureum-guest# '
JOB='echo BENCH-JOB-START; dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum; echo BENCH-JOB-END'
LIMIT_S=300 # a VMM that has not reached its prompt by then is reported as such
work=$(mktemp -d "${TMPDIR:-/tmp}/gureum-emu-boot.XXXXXX")
trap 'rm -rf "$work"' EXIT

vmm_cmd() { # VMM: the command line
	case $1 in
	gureum)
		echo "$GUREUM_BIN" run --accel emu --kernel "$GUEST/vmlinuz" \
			--initrd "$GUEST/initramfs.cpio.gz" --cmdline "'$CMDLINE'" --cpus "$cpus" \
			--memory 512M --stats
		;;
	qemu-q35 | qemu-microvm)
		local machine=q35
		[[ $1 == qemu-microvm ]] && machine=microvm,pit=on,pic=on,rtc=on,acpi=off
		echo qemu-system-x86_64 -M "$machine" -accel tcg -smp "$cpus" -m 512M \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.cpio.gz" \
			-append "'$CMDLINE'"
		;;
	*) die "unknown VMM $1" ;;
	esac
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_for FILE TEXT [line]: until TEXT is in FILE (with "line": is a whole line of it), or the
# VMM died, or the limit; prints the time.
wait_for() {
	local limit=$(($(now_ms) + LIMIT_S * 1000)) grep_args=(-a -q -F -- "$2")
	[[ ${3:-} == line ]] && grep_args=(-a -q -E -- "^$2"$'\r?$')
	until grep "${grep_args[@]}" "$1" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || return 1
		(($(now_ms) < limit)) || return 1
		sleep 0.02
	done
	now_ms
}

# one_run VMM: "ready_ms prompt_ms job_ms total_ms cpu_ms mips" (- where not reached).
one_run() {
	local out=$work/out in=$work/in start ready prompt job_start job_end total cpu mips
	rm -f "$out" "$in"
	mkfifo "$in"
	start=$(now_ms)
	# The VMM's CPU time (user and system seconds) from bash's `time` in the subshell.
	(
		TIMEFORMAT='%3U %3S'
		{ time eval "$(vmm_cmd "$1")" <"$in" >"$out" 2>&1; } 2>"$work/times"
	) &
	pid=$!
	exec 3>"$in"
	ready=$(wait_for "$out" "gureum-guest: ready") || ready=
	prompt=$(wait_for "$out" "$PROMPT") || prompt=
	job_start= job_end=
	if [[ -n $prompt ]]; then
		printf '%s\n' "$JOB" >&3
		job_start=$(wait_for "$out" BENCH-JOB-START line) || job_start=
		job_end=$(wait_for "$out" BENCH-JOB-END line) || job_end=
		printf 'poweroff -f\n' >&3
	fi
	# Power-off is when the kernel says so ("reboot: Power down"; microvm without ACPI can only
	# halt): the VMM gets a few seconds to exit after it.
	local down waited=0
	down=$(wait_for "$out" "reboot: ") || down=
	while kill -0 "$pid" 2>/dev/null && ((waited < 50)); do
		sleep 0.1
		waited=$((waited + 1))
	done
	# A VMM still running (microvm halts, it cannot power off) is asked to quit with SIGTERM,
	# so that `time` still reports its CPU time; SIGKILL only if it does not.
	pkill -TERM -P "$pid" 2>/dev/null || true
	waited=0
	while kill -0 "$pid" 2>/dev/null && ((waited < 30)); do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	exec 3>&-
	total=${down:+$((down - start))}
	cpu=$(awk 'NF == 2 { printf "%d", ($1 + $2) * 1000 }' "$work/times" 2>/dev/null)
	mips=$(sed -n 's/.*stat MIPS (while running) \([0-9]*\).*/\1/p' "$out" | tail -n 1)
	echo "${ready:+$((ready - start))} ${prompt:+$((prompt - start))}" \
		"${job_end:+$((job_end - job_start))} $total $cpu ${mips:--}" |
		awk '{ for (i = 1; i <= 6; i++) if ($i == "") $i = "-"; print }'
	cp "$out" "$GUREUM_ROOT/out/bench/emu-boot.$1.log"
}

median() { # numbers on stdin ("-" ignored) -> the median, or "-"
	{ grep -E '^[0-9]+$' || true; } | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "-"; else print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'
}

mkdir -p "$GUREUM_ROOT/out/bench"
declare -A results=()
for v in "${vmms[@]}"; do
	for ((r = 1; r <= runs; r++)); do
		log "$v: run $r of $runs"
		results[$v]+="$(one_run "$v")"$'\n'
	done
done

echo "default guest on this host, $cpus vCPU(s), 512M; median of $runs runs (ms unless noted)"
printf '%-16s %10s %10s %14s %10s %10s %6s\n' vmm ready prompt sha256-64MiB total cpu MIPS
for v in "${vmms[@]}"; do
	row=()
	for col in 1 2 3 4 5 6; do
		row+=("$(awk -v c=$col 'NF { print $c }' <<<"${results[$v]}" | median)")
	done
	printf '%-16s %10s %10s %14s %10s %10s %6s\n' "$v" "${row[@]}"
done
echo "(ready: the guest's /init printed its marker; prompt: the shell's; total: to the kernel's"
echo " power-off message after poweroff -f; cpu: user+sys of the VMM; '-': not reached in ${LIMIT_S}s)"
