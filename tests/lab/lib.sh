# Helpers for nested-lab scenarios. Sourced by the scenario scripts inside L1 (busybox sh).
# A "VM" is one L2 VMM process: its console input is a FIFO, its console output, stderr and
# exit status are files under /run/vm/<id>/, so scenarios poll files instead of sleeping.

L2_KERNEL=/lab/l2/vmlinuz
L2_INITRD=/lab/l2/initramfs.cpio.gz
# lpj/tsc/no_timer_check: without them L2 spends minutes calibrating timers under nested SVM;
# quiet: every serial byte is a slow exit here.
L2_CMDLINE="console=ttyS0 quiet lpj=2000000 tsc=reliable no_timer_check panic=-1"
L2_MEMORY=256M
READY_MARKER="gureum-guest: ready"
VM=

lab_pass() {
	echo "LAB-RESULT $LAB_SCENARIO PASS $*"
	: >/run/lab-result
	exit 0
}

# lab_fail DETAIL: show the current VM's console and stderr tails, then the result line.
lab_fail() {
	if [ -n "$VM" ]; then
		echo "---- last 40 lines of the L2 console ($VM_NAME) ----"
		tail -n 40 "$VM/console" 2>/dev/null | tr -d '\r'
		echo "---- last 40 lines of $VM_NAME's stderr ----"
		tail -n 40 "$VM/stderr" 2>/dev/null
		echo "----"
	fi
	echo "LAB-RESULT $LAB_SCENARIO FAIL $*"
	: >/run/lab-result
	exit 1
}

# require_gureum: fail clearly when the lab was built without build/gureum.
# LAB_VMM=qemu (lab.vmm=qemu on L1's command line) runs the gureum scenarios with QEMU
# microvm instead, to prove the scenarios themselves.
require_gureum() {
	[ "${LAB_VMM:-gureum}" = qemu ] && return 0
	[ -x /lab/bin/gureum ] || lab_fail "no gureum binary in the lab (build it first: make)"
}

# vmm_cmd CPUS [exit]: the VMM under test (gureum, or QEMU with LAB_VMM=qemu); "exit" makes
# a guest reboot end the VMM instead of restarting the guest.
vmm_cmd() {
	if [ "${LAB_VMM:-gureum}" = qemu ]; then
		if [ "${2:-}" = exit ]; then
			qemu_cmd "$1"
		else
			qemu_cmd "$1" | sed 's/ -no-reboot//'
		fi
	elif [ "${2:-}" = exit ]; then
		gureum_cmd "$1" --on-reboot exit
	else
		gureum_cmd "$1"
	fi
}

# gureum_cmd CPUS [extra gureum options]: the command line that boots the default guest.
gureum_cmd() {
	cpus=$1
	shift
	echo /lab/bin/gureum run --kernel $L2_KERNEL --initrd $L2_INITRD --cmdline "'$L2_CMDLINE'" \
		--cpus "$cpus" --memory $L2_MEMORY --console stdio "$@"
}

# qemu_cmd CPUS: the same guest under Debian's QEMU microvm, the lab's reference VMM.
qemu_cmd() {
	echo qemu-system-x86_64 -M microvm,accel=kvm -cpu host -smp "$1" -m $L2_MEMORY \
		-nodefaults -no-user-config -display none -monitor none \
		-chardev stdio,id=con,signal=off -serial chardev:con -no-reboot \
		-kernel $L2_KERNEL -initrd $L2_INITRD -append "'$L2_CMDLINE'"
}

# vm_start NAME COMMAND-STRING: start a VMM in the background (COMMAND-STRING is eval'ed).
vm_start() {
	VM_NAME=$1
	VM=/run/vm/$1
	rm -rf "$VM"
	mkdir -p "$VM"
	mkfifo "$VM/in"
	echo "$2" >"$VM/cmd"
	echo "lab: starting $VM_NAME: $2" >&2
	# Open the FIFO read-write first so neither side blocks; the VMM never sees EOF.
	exec 3<>"$VM/in"
	(
		eval "$2" <"$VM/in" >"$VM/console" 2>"$VM/stderr" &
		echo $! >"$VM/pid"
		wait $!
		echo $? >"$VM/status.tmp"
		mv "$VM/status.tmp" "$VM/status"
	) &
	while [ ! -s "$VM/pid" ]; do sleep 0.05; done
	VM_PID=$(cat "$VM/pid")
}

# vm_send TEXT: type TEXT and Enter on the VM's console.
vm_send() {
	printf '%s\n' "$1" >&3
}

vm_exited() {
	[ -e "$VM/status" ]
}

# wait_console REGEX [COUNT] [SECONDS]: wait until COUNT console lines match REGEX (grep -E).
# Fails early when the VMM exits before that.
wait_console() {
	text=$1 count=${2:-1} limit=$(($(date +%s) + ${3:-120}))
	while [ "$(grep -a -c -E -- "$text" "$VM/console" 2>/dev/null)" -lt "$count" ]; do
		vm_exited && return 1
		[ "$(date +%s)" -ge "$limit" ] && return 1
		sleep 0.2
	done
	return 0
}

# vm_wait_exit [SECONDS]: wait for the VMM to exit and print its exit status ("timeout" if
# it did not exit in time).
vm_wait_exit() {
	limit=$(($(date +%s) + ${1:-60}))
	while ! vm_exited; do
		if [ "$(date +%s)" -ge "$limit" ]; then
			echo timeout
			return 0
		fi
		sleep 0.2
	done
	cat "$VM/status"
}

vm_kill() {
	vm_exited || kill -9 "$VM_PID" 2>/dev/null
	exec 3>&-
}

# check_shell_boot NAME COMMAND-STRING: boot to the ready marker, run a command whose output
# proves the shell works, power off, and expect exit status 0. Prints the boot time.
check_shell_boot() {
	start=$(date +%s)
	vm_start "$1" "$2"
	wait_console "$READY_MARKER" 1 120 ||
		lab_fail "$1: no '$READY_MARKER' on the console (exit status: $(cat "$VM/status" 2>/dev/null || echo still running))"
	ready=$(($(date +%s) - start))
	vm_send 'echo lab-$((6*7))'
	wait_console "lab-42" 1 60 || lab_fail "$1: the guest shell did not answer 'echo lab-\$((6*7))'"
	vm_send 'poweroff -f'
	status=$(vm_wait_exit 60)
	[ "$status" = 0 ] || lab_fail "$1: exit status $status after 'poweroff -f' (expected 0)"
	BOOT_DETAIL="ready in ${ready}s, shell answered, exit status 0"
}
