#!/usr/bin/env bash
# gureumd with many VMs beside QEMU: the memory each VMM process costs with COUNT VMs running,
# and the time from `gureum vm start` to the guest's first console line.
#   bench/daemon.sh [--count N]     # needs build/gureum, build/gureumd, the idle payload
#                                   # (meson builds it), qemu-system-x86_64; ~1 minute
# The guest is tests/guests/idle.c (prints a line, then halts): what is measured is the VMM, not
# the guest. Both VMMs run it on their software CPU (gureum --accel emu, QEMU -accel tcg, 16M,
# the same multiboot ELF; QEMU as `-M pc`, since its microvm has no multiboot loader), so the
# figures do not depend on the host's /dev/kvm. Memory: Pss from /proc/PID/smaps_rollup (shared
# library pages divided among the processes that map them), and Rss, per VMM process, median
# over the COUNT processes; and the VMM's overhead, that Pss less the guest RAM's (the one
# mapping of exactly the guest's 16 MiB in each process: what the guest touched is the guest's,
# not the VMM's, as in Firecracker's "VMM overhead"). Start: gureumd's path (an HTTP request,
# fork, exec, boot) to the guest's line in the VM's log, median of COUNT starts; `gureum run`
# started directly, to its first line, for the daemon's share. With the default guest built (scripts/guest-image.sh),
# also `gureum vm start` to that guest's shell prompt in the VM's log, median of SHELL_RUNS
# (3), beside QEMU (-M q35) booting the same kernel and initramfs to the same prompt on the same
# accelerator: KVM where /dev/kvm opens, otherwise both software CPUs (QEMU's TCG).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GUREUM=${GUREUM_BIN:-$ROOT/build/gureum}
GUREUMD=${GUREUMD_BIN:-$ROOT/build/gureumd}
IDLE=$ROOT/build/tests/guests/idle.elf
COUNT=20
SHELL_RUNS=${SHELL_RUNS:-3}
GUEST=$ROOT/out/guest
PROMPT='gureum-guest# '
[[ ${1:-} == --count ]] && COUNT=$2
for f in "$GUREUM" "$GUREUMD" "$IDLE"; do
	[[ -x $f || -r $f ]] || { echo "bench/daemon.sh: $f is missing (ninja -C build)" >&2; exit 2; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "bench/daemon.sh: qemu-system-x86_64 is missing" >&2; exit 2; }
work=$(mktemp -d /tmp/gureum-bench-daemon.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
qemu_pids=()
cleanup() {
	for p in "${qemu_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for sock in "$work"/run/vms/*.sock; do [[ -e $sock ]] && pkill -KILL -f -- "--api-socket $sock"; done
	[[ -n ${daemon:-} ]] && kill "$daemon" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# kib PID FIELD: Pss or Rss of the process, KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup"; }
# ram_pss PID: Pss of the mapping of exactly the guest's RAM (16 MiB), KiB (0 if none).
ram_pss() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { size = 0 } $1 == "Size:" { size = $2 }
		$1 == "Pss:" && size == 16384 { sum += $2 } END { print sum + 0 }' "/proc/$1/smaps"
}
# overhead PID: Pss less the guest RAM's, KiB.
overhead() { echo $(($(kib "$1" Pss) - $(ram_pss "$1"))); }
wait_line() { # FILE TEXT [SECONDS]: up to 10 s unless SECONDS
	for _ in $(seq $((${3:-10} * 100))); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.01; done
	echo "bench/daemon.sh: '$2' never appeared in $1" >&2; exit 1
}

"$GUREUMD" --state-dir "$work/state" --run-dir "$work/run" --gureum "$GUREUM" >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do "$GUREUM" vm daemon >/dev/null 2>&1 && break; sleep 0.05; done

starts=()
for i in $(seq "$COUNT"); do
	"$GUREUM" vm create "vm$i" -- --accel emu --kernel "$IDLE" --memory 16M >/dev/null
	t0=$(now_ms)
	"$GUREUM" vm start "vm$i" >/dev/null
	wait_line "$work/state/logs/vm$i.log" "idle guest up"
	starts+=($(($(now_ms) - t0)))
done
direct=()
for i in $(seq 5); do
	t0=$(now_ms)
	"$GUREUM" run --accel emu --kernel "$IDLE" --memory 16M >"$work/direct.out" 2>/dev/null &
	pid=$!
	wait_line "$work/direct.out" "idle guest up"
	direct+=($(($(now_ms) - t0)))
	kill "$pid"; wait "$pid" 2>/dev/null || true
done
sleep 1
mapfile -t vmm_pids < <("$GUREUM" vm --json list | python3 -c '
import json, sys
for vm in json.load(sys.stdin)["vms"]: print(vm["pid"])')
gureum_pss=$(for p in "${vmm_pids[@]}"; do kib "$p" Pss; done | median)
gureum_rss=$(for p in "${vmm_pids[@]}"; do kib "$p" Rss; done | median)
gureum_overhead=$(for p in "${vmm_pids[@]}"; do overhead "$p"; done | median)
daemon_rss=$(kib "$daemon" Rss)

for i in $(seq "$COUNT"); do
	qemu-system-x86_64 -M pc -accel tcg -m 16 -kernel "$IDLE" -nodefaults -display none \
		-serial "file:$work/qemu$i.out" >/dev/null 2>&1 &
	qemu_pids+=($!)
done
for i in $(seq "$COUNT"); do wait_line "$work/qemu$i.out" "idle guest up"; done
sleep 1
qemu_pss=$(for p in "${qemu_pids[@]}"; do kib "$p" Pss; done | median)
qemu_rss=$(for p in "${qemu_pids[@]}"; do kib "$p" Rss; done | median)
qemu_overhead=$(for p in "${qemu_pids[@]}"; do overhead "$p"; done | median)

# To the default guest's shell: through the daemon, then QEMU on the same accelerator.
shell_rows=()
if [[ -r $GUEST/vmlinuz && -r $GUEST/initramfs.cpio.gz ]]; then
	accel=emu qemu_accel=tcg
	if [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=kvm qemu_accel=kvm; fi
	through_daemon=() by_qemu=()
	for i in $(seq "$SHELL_RUNS"); do
		"$GUREUM" vm create "shell$i" -- --accel "$accel" --kernel "$GUEST/vmlinuz" \
			--initrd "$GUEST/initramfs.cpio.gz" --cmdline console=ttyS0 --memory 256M >/dev/null
		t0=$(now_ms)
		"$GUREUM" vm start "shell$i" >/dev/null
		wait_line "$work/state/logs/shell$i.log" "$PROMPT" 300
		through_daemon+=($(($(now_ms) - t0)))
		"$GUREUM" vm stop "shell$i" --force >/dev/null
		t0=$(now_ms)
		qemu-system-x86_64 -M q35 -accel "$qemu_accel" -m 256M -nodefaults -no-user-config \
			-display none -serial "file:$work/qemu-shell$i.out" -no-reboot \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.cpio.gz" \
			-append console=ttyS0 >/dev/null 2>&1 &
		qemu_shell=$!
		wait_line "$work/qemu-shell$i.out" "$PROMPT" 300
		by_qemu+=($(($(now_ms) - t0)))
		kill "$qemu_shell"; wait "$qemu_shell" 2>/dev/null || true
	done
	shell_rows+=("$(printf '| to the default guest'"'"'s shell (--accel %s / -accel %s, 256M), median of %s | %s ms through gureumd | %s ms |' \
		"$accel" "$qemu_accel" "$SHELL_RUNS" "$(printf '%s\n' "${through_daemon[@]}" | median)" \
		"$(printf '%s\n' "${by_qemu[@]}" | median)")")
else
	shell_rows+=("| to the default guest's shell | not measured: no guest image in $GUEST (scripts/guest-image.sh) | - |")
fi

printf '%s VMs running the idle guest on the software CPU (16M each)\n' "$COUNT"
printf '| measure | gureum | QEMU -M pc TCG |\n| --- | --- | --- |\n'
printf '| VMM process Pss, median | %s KiB | %s KiB |\n' "$gureum_pss" "$qemu_pss"
printf '| VMM process Rss, median | %s KiB | %s KiB |\n' "$gureum_rss" "$qemu_rss"
printf '| VMM overhead (Pss less the guest RAM mapping), median | %s KiB | %s KiB |\n' \
	"$gureum_overhead" "$qemu_overhead"
printf '| gureumd itself, Rss | %s KiB | - |\n' "$daemon_rss"
printf '| gureum vm start to the first console line, median | %s ms | - |\n' \
	"$(printf '%s\n' "${starts[@]}" | median)"
printf '| gureum run to the first console line, median of 5 | %s ms | - |\n' \
	"$(printf '%s\n' "${direct[@]}" | median)"
printf '%s\n' "${shell_rows[@]}"
