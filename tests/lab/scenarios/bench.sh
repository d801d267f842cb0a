# Boot benchmark (run by bench/boot.sh): gureum and QEMU microvm boot the same guest (same
# kernel, initramfs, command line, memory, 1 vCPU) to the ready marker, then poweroff -f.
# Prints "BENCH <vmm> <metric> <value>" lines; times are on L1's clock.
# lab-smp: 1
# lab-timeout: 420
. /lab/lib.sh
require_gureum

uptime_ms() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# kvm_vm_dir: the debugfs directory (<pid>-<fd>) of the one VM alive in L1.
kvm_vm_dir() {
	for d in /sys/kernel/debug/kvm/*-*; do
		[ -d "$d" ] && echo "$d" && return 0
	done
	return 1
}

# startup_us NAME COMMAND: microseconds from the VMM's execve to its first KVM_RUN, from
# strace timestamps (the same tracing cost for both VMMs; only execve/ioctl stop the tracee).
startup_us() {
	if ! command -v strace >/dev/null; then
		echo "not-measured"
		return 0
	fi
	vm_start "$1-strace" "strace -f --seccomp-bpf -ttt -e trace=execve,ioctl -o /run/vm/$1-strace.trace $2"
	limit=$(($(date +%s) + 60))
	while ! grep -q KVM_RUN "/run/vm/$1-strace.trace" 2>/dev/null; do
		[ "$(date +%s)" -ge "$limit" ] && break
		sleep 0.1
	done
	d=$(kvm_vm_dir) && kill -9 "$(basename "$d" | cut -d- -f1)" 2>/dev/null
	vm_wait_exit 20 >/dev/null
	vm_kill
	if ! grep -q KVM_RUN "/run/vm/$1-strace.trace"; then
		echo "lab: $1 under strace never reached KVM_RUN; its trace and stderr end with:" >&2
		tail -n 5 "/run/vm/$1-strace.trace" "$VM/stderr" >&2
		echo "not-measured"
		return 0
	fi
	awk '/execve\(/ && !t0 { t0 = $2 } /KVM_RUN/ { printf "%d\n", ($2 - t0) * 1000000; exit }' \
		"/run/vm/$1-strace.trace"
}

# measure NAME COMMAND: boot to the ready marker, read the VM's exit counters and the VMM's
# peak RSS while it is alive, power off, and print BENCH lines.
measure() {
	name=$1
	start=$(uptime_ms)
	vm_start "$name" "$2"
	wait_console "$READY_MARKER" 1 150 || lab_fail "$name: no '$READY_MARKER' on the console"
	ready=$(($(uptime_ms) - start))
	d=$(kvm_vm_dir) || lab_fail "$name: no VM under /sys/kernel/debug/kvm"
	pid=$(basename "$d" | cut -d- -f1)
	for counter in exits io_exits mmio_exits halt_exits irq_injections; do
		echo "BENCH $name $counter $(cat "$d/$counter")"
	done
	echo "BENCH $name peak_rss_kb $(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
	vm_send 'poweroff -f'
	status=$(vm_wait_exit 60)
	total=$(($(uptime_ms) - start))
	[ "$status" = 0 ] || lab_fail "$name: exit status $status after 'poweroff -f'"
	echo "BENCH $name ready_ms $ready"
	echo "BENCH $name total_ms $total"
	vm_kill
}

measure gureum "$(gureum_cmd 1 --stats)"
sed -n 's/^gureum: stat \([a-z_]*\) \([0-9]*\)$/BENCH gureum-stats \1 \2/p' "$VM/stderr"
measure qemu "$(qemu_cmd 1)"
echo "BENCH gureum startup_us $(startup_us gureum "$(gureum_cmd 1)")"
echo "BENCH qemu startup_us $(startup_us qemu "$(qemu_cmd 1)")"
lab_pass "both VMMs booted the guest to the ready marker and powered off with status 0"
