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

# The result also goes to the kernel log, which L1's console prints by polling the UART: L1's
# interrupt-driven tty output has been seen to stop for good under TCG (a lost UART interrupt),
# and then an echo to the console blocks forever.
lab_result_to_kmsg() {
	echo "<3>$*" >/dev/kmsg 2>/dev/null || true
}

lab_pass() {
	lab_result_to_kmsg "LAB-RESULT $LAB_SCENARIO PASS $*"
	echo "LAB-RESULT $LAB_SCENARIO PASS $*"
	: >/run/lab-result
	exit 0
}

# lab_fail DETAIL: show the current VM's console and stderr tails, then the result line.
lab_fail() {
	lab_result_to_kmsg "LAB-RESULT $LAB_SCENARIO FAIL $*"
	if [ -n "$VM" ]; then
		echo "---- last 40 lines of the L2 console ($VM_NAME) ----"
		tail -n 40 "$VM/console" 2>/dev/null | tr -d '\r'
		echo "---- last 40 lines of $VM_NAME's stderr ----"
		tail -n 40 "$VM/stderr" 2>/dev/null
		# The other VMMs of the scenario (a migration's source, say) tell their side.
		for other in /run/vm/*; do
			[ -d "$other" ] && [ "$other" != "$VM" ] || continue
			echo "---- last 15 lines of ${other##*/}'s stderr ----"
			tail -n 15 "$other/stderr" 2>/dev/null
		done
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

# ---- Virtio scenarios: devices on both VMMs, commands in the guest, measurements in L1 ----

# The tap network of the virtio scenarios: L1 is .1 on the tap, the guest .2.
LAB_NET_L1=10.0.2.1
LAB_NET_GUEST=10.0.2.2
LAB_NET_PREFIX=24

# qemu_virtio_cmd CPUS [QEMU OPTIONS...]: qemu_cmd on microvm with its PCIe host bridge
# (pcie=on), so QEMU's devices are virtio-pci with MSI-X like gureum's: the fair peer (the
# virtio-mmio devices of plain microvm have one interrupt line per device and no MSI-X).
qemu_virtio_cmd() {
	cpus=$1
	shift
	echo "$(qemu_cmd "$cpus" | sed 's/-M microvm,accel=kvm/-M microvm,accel=kvm,pcie=on/') $*"
}

# virtio_vmm_cmd CPUS [DEVICE OPTIONS...]: the VMM under test (LAB_VMM) with the device
# options of the vm_*_opts helpers below, as vmm_cmd does for the plain guest.
virtio_vmm_cmd() {
	cpus=$1
	shift
	if [ "${LAB_VMM:-gureum}" = qemu ]; then
		qemu_virtio_cmd "$cpus" "$@"
	else
		gureum_cmd "$cpus" "$@"
	fi
}

# The device helpers print options for the VMM named by $1 (gureum or qemu; "" means
# LAB_VMM), so one scenario can start both VMMs with the same devices.
lab_vmm() {
	echo "${1:-${LAB_VMM:-gureum}}"
}

# vm_disk_opts VMM ID PATH [ro]: a raw virtio-blk disk whose serial is ID
# (/sys/block/vdX/serial in the guest).
vm_disk_opts() {
	if [ "$(lab_vmm "$1")" = qemu ]; then
		echo "-drive id=$2,file=$3,if=none,format=raw${4:+,readonly=on}" \
			"-device virtio-blk-pci,drive=$2,serial=$2"
	else
		echo "--disk $3,format=raw,serial=$2${4:+,readonly=on}"
	fi
}

# vm_net_opts VMM TAP [MAC]: a virtio-net card on the tap device TAP, with vhost-net (not on
# the software CPU, which must see the device writes).
vm_net_opts() {
	mac=${3:-52:54:00:12:34:56}
	if [ "$(lab_vmm "$1")" = qemu ]; then
		# romfile=: no PXE option ROM (microvm has no BIOS to run it, and L1 has no file).
		echo "-netdev tap,id=$2,ifname=$2,script=no,downscript=no,vhost=on" \
			"-device virtio-net-pci,netdev=$2,mac=$mac,romfile="
	elif [ "${LAB_DIRECT:-0}" = 1 ]; then
		# The software CPU must see every device write to guest RAM: no vhost-net.
		echo "--net tap=$2,mac=$mac,vhost=off"
	else
		echo "--net tap=$2,mac=$mac,vhost=on"
	fi
}

# vm_user_net_opts VMM [SETTING...]: a virtio-net card on the user-mode network (libslirp; no
# tap, no root) with the settings given in QEMU's syntax, which both VMMs share
# (hostfwd=tcp:127.0.0.1:15555-:5001, net=10.0.3.0/24).
vm_user_net_opts() {
	vmm=$(lab_vmm "$1")
	shift
	opts=user
	[ "$vmm" = qemu ] && opts=user,id=u0
	for f in "$@"; do opts="$opts,$f"; done
	if [ "$vmm" = qemu ]; then
		echo "-netdev $opts -device virtio-net-pci,netdev=u0,romfile="
	else
		echo "--net $opts"
	fi
}

# vm_rng_opts VMM: a virtio-rng device.
vm_rng_opts() {
	if [ "$(lab_vmm "$1")" = qemu ]; then
		echo "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0"
	else
		echo "--rng"
	fi
}

# vm_balloon_opts VMM: a virtio-balloon device.
vm_balloon_opts() {
	if [ "$(lab_vmm "$1")" = qemu ]; then
		# QEMU 7.2's virtio-balloon-pci has no MSI-X (no "vectors" property): INTx only.
		echo "-device virtio-balloon-pci"
	else
		echo "--balloon"
	fi
}

# tap_setup NAME: a persistent tap device in L1 with address LAB_NET_L1, up, before the VMM
# attaches to it (both VMMs attach to an existing tap by name).
tap_setup() {
	tunctl -t "$1" >/dev/null || lab_fail "cannot create tap device $1 in L1"
	ip addr add "$LAB_NET_L1/$LAB_NET_PREFIX" dev "$1"
	ip link set "$1" up
}

# tap_remove NAME: undo tap_setup (after the VMM exited).
tap_remove() {
	tunctl -d "$1" >/dev/null 2>&1
}

# vm_run SECONDS COMMAND: run COMMAND in the guest shell of the current VM and wait until it
# finished. Prints COMMAND's output (carriage returns removed); returns its exit status, or
# 124 when it did not finish within SECONDS (or the VMM exited). Output and status are
# framed by markers that the shell's echo of the typed line cannot match (@@Nb, @@Ne STATUS).
# Keep COMMAND short (one line of the guest's tty) and its output small: every console byte is
# a VM exit.
vm_run() {
	limit=$1
	shift
	seq=$(($(cat /run/vm_run_seq 2>/dev/null || echo 0) + 1))
	echo "$seq" >/run/vm_run_seq
	vm_send "echo @@$seq''b; $*; echo @@$seq''e \$?"
	# The end marker is not anchored: output without a final newline (a sysfs attribute)
	# puts it at the end of the output's last line.
	wait_console "@@${seq}e [0-9]+" 1 "$limit" || return 124
	tr -d '\r' <"$VM/console" | awk -v b="@@${seq}b" -v e="@@${seq}e [0-9]+" '
		$0 == b { on = 1; next }
		on && match($0, e) { if (RSTART > 1) print substr($0, 1, RSTART - 1); exit }
		on { print }'
	return "$(tr -d '\r' <"$VM/console" | sed -n "s/.*@@${seq}e \([0-9]*\).*/\1/p" | head -n1)"
}

# wait_log NAME PATTERN WHAT: waits up to 60 s for PATTERN in the current VMM's log (fails the
# scenario, saying WHAT did not happen, if it exits first or the time runs out).
wait_log() {
	limit=$(($(date +%s) + 60))
	until grep -q "$2" "$VM/stderr"; do
		vm_exited && lab_fail "$1: $3: $(cat "$VM/stderr")"
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "$1: no '$2' after 60 s"
		sleep 0.1
	done
}

# vm_restore NAME DIR SOCKET: starts gureum from the snapshot DIR with its control socket at
# SOCKET and waits for the "restored from" log line (fails the scenario otherwise);
# RESTORE_MS is the restore time it reports. (Not in $(...): vm_start's background VMM would
# hold the substitution's pipe open.)
vm_restore() {
	vm_start "$1" "/lab/bin/gureum run --restore $2 --console stdio --api-socket $3"
	wait_log "$1" 'restored from' "the restore failed"
	RESTORE_MS=$(sed -n 's/.*restored from .* in \([0-9]*\) ms.*/\1/p' "$VM/stderr")
}

# vm_incoming NAME URI SOCKET [OPTIONS]: a migration destination waiting on URI (it becomes
# the console vm_run talks to).
vm_incoming() {
	vm_start "$1" "/lab/bin/gureum run --incoming $2 --console stdio --api-socket $3 ${4:-}"
	wait_log "$1" 'waiting for a migration' "the destination exited"
}

# vm_use DIR: talk to the VM whose vm_start directory is DIR again.
vm_use() {
	VM=$1
	VM_NAME=${1##*/}
	VM_PID=$(cat "$1/pid")
	exec 3<>"$1/in"
}

# vm_exit_status DIR: the exit status of the VMM whose vm_start directory is DIR, once it
# exited ("timeout" after 60 s).
vm_exit_status() {
	limit=$(($(date +%s) + 60))
	until [ -e "$1/status" ] || [ "$(date +%s)" -ge "$limit" ]; do sleep 0.2; done
	cat "$1/status" 2>/dev/null || echo timeout
}

# console_ticks DIR: the numbers of the "TICK N" lines on that VM's console
# (Anywhere in a line: a tick printed right after the prompt or a typed command's echo shares
# its line.)
console_ticks() { tr -d '\r' <"$1/console" | grep -a -o 'TICK [0-9][0-9]*' | sed 's/^TICK //'; }

# ticks_go_on_from LAST WHAT [SECONDS]: the current VM's ticker runs on (2 more ticks within
# SECONDS, default 60) from right after tick LAST (the last one before a move or a snapshot):
# no reboot, no tick lost or repeated beyond one in flight. Fails the scenario, naming WHAT.
ticks_go_on_from() {
	wait_console '^TICK ' 2 "${3:-60}" || lab_fail "$2: no ticks: $(tail -3 "$VM/stderr")"
	TICKS_FIRST=$(console_ticks "$VM" | head -n1)
	[ "$TICKS_FIRST" -gt "$1" ] && [ "$TICKS_FIRST" -le $(($1 + 2)) ] ||
		lab_fail "$2: the ticks start at $TICKS_FIRST, the last one before was $1"
}

# console_hash TAG: the hash the current VM's guest printed last as "TAG <64 hex digits>".
console_hash() {
	tr -d '\r' <"$VM/console" | grep -a -E "^$1 [0-9a-f]{64}" | tail -n 1 | cut -d' ' -f2
}

# file_hash FILE: the sha256 of an L1 file.
file_hash() {
	sha256sum <"$1" | cut -d' ' -f1
}

# guest_sends_to_l1 WHAT ADDR MB SECONDS: the guest sends MB MiB of random data to a listener
# on L1's port 5000, which it reaches at ADDR, within SECONDS. Fails the scenario, naming WHAT,
# unless L1 got them whole (sha256); appends the time taken to DETAIL.
guest_sends_to_l1() {
	rm -f /tmp/from-guest
	# nc's stdin must stay open (EOF on it would end the connection early): a FIFO held open.
	[ -p /tmp/hold ] || mkfifo /tmp/hold
	nc -l -p 5000 <>/tmp/hold >/tmp/from-guest &
	server=$!
	start=$(date +%s)
	vm_send "dd if=/dev/urandom of=/tmp/data bs=1M count=$3 2>/dev/null; echo SHA-G \$(sha256sum </tmp/data); nc $2 5000 </tmp/data && echo SENT-\$((40+2))"
	wait_console "SENT-42" 1 "$4" || {
		kill $server 2>/dev/null
		lab_fail "$1: the guest's nc to $2:5000 did not finish"
	}
	wait $server
	sent=$(console_hash SHA-G)
	got=$(file_hash /tmp/from-guest)
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
		lab_fail "$1: guest -> L1: sha256 differs (guest $sent, L1 $got, $(wc -c </tmp/from-guest) bytes)"
	DETAIL="$DETAIL guest->L1 ${3}MiB in $(($(date +%s) - start))s (incl. dd),"
}

# guest_sha COMMAND: the sha256 the guest shell command prints.
guest_sha() { vm_run 120 "$1" | grep -o '^[0-9a-f]\{64\}'; }

# vm_boot NAME COMMAND-STRING: vm_start and wait for the guest's ready marker (fails the
# scenario otherwise), then wait for the shell to answer.
vm_boot() {
	vm_start "$1" "$2"
	wait_console "$READY_MARKER" 1 120 ||
		lab_fail "$1: no '$READY_MARKER' on the console (exit status: $(cat "$VM/status" 2>/dev/null || echo still running))"
	vm_run 60 true >/dev/null || lab_fail "$1: the guest shell does not answer"
}

# vm_poweroff [SECONDS]: poweroff -f in the guest; prints the VMM's exit status ("timeout").
vm_poweroff() {
	vm_send 'poweroff -f'
	vm_wait_exit "${1:-60}"
}

# kvm_vm_debugfs: L1 KVM's debugfs directory (<pid>-<fd>) of the one VM alive in L1.
kvm_vm_debugfs() {
	for d in /sys/kernel/debug/kvm/*-*; do
		[ -d "$d" ] && echo "$d" && return 0
	done
	return 1
}

# vmm_pid: the pid of the process that owns the VM alive in L1 (the VMM itself, not the
# shell vm_start ran it from).
vmm_pid() {
	if d=$(kvm_vm_debugfs); then
		basename "$d" | cut -d- -f1
	elif [ "${LAB_DIRECT:-0}" = 1 ]; then
		# On the software CPU there is no KVM VM to find it by; the scenario's PID namespace
		# holds one gureum at a time.
		pidof gureum | cut -d' ' -f1
	else
		return 1
	fi
}

# vm_rss_kb [PID] [FIELD]: VmRSS (or FIELD, e.g. VmHWM for the peak) of the VMM in KiB.
vm_rss_kb() {
	awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/${1:-$(vmm_pid)}/status" 2>/dev/null
}

# kvm_stat NAME: one of L1 KVM's counters summed over all VMs (/sys/kernel/debug/kvm/NAME:
# exits, io_exits, mmio_exits, halt_exits, irq_exits ...); 0 when KVM does not have it.
kvm_stat() {
	cat "/sys/kernel/debug/kvm/$1" 2>/dev/null || echo 0
}

# uptime_cs: L1's (or, typed into the guest, L2's) clock in hundredths of a second; busybox
# date has no %N.
uptime_cs() {
	awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime
}

# screen_text_check SOCK PORT: the guest writes two lines to /dev/tty0; gureum's screendump
# (through SOCK) must not be black and must equal what Debian's vncsnapshot captures from the
# VNC server on PORT, and tesseract must read both lines off that capture. Fails the scenario
# otherwise; sets SCREEN_DUMP (ctl's reply), SCREEN_SAME (image-tool compare's figures) and
# SCREEN_TEXT (what tesseract read).
screen_text_check() {
	vm_run 30 "echo 0 >/sys/class/graphics/fbcon/cursor_blink; printf '\\033[2J\\033[H' >/dev/tty0; echo 'the quick brown fox 4711' >/dev/tty0; echo 'jumps over the lazy dog' >/dev/tty0" >/dev/null ||
		lab_fail "writing to /dev/tty0 failed"
	sleep 1
	SCREEN_DUMP=$(/lab/bin/gureum ctl "$1" screendump /tmp/shot.png) || lab_fail "ctl screendump failed"
	timeout 120 vncsnapshot -quiet -quality 100 "127.0.0.1::$2" /tmp/snap.jpg >/tmp/snap.log 2>&1 ||
		lab_fail "vncsnapshot failed: $(tail -3 /tmp/snap.log)"
	[ "$(image-tool lit /tmp/shot.png)" -gt 0 ] || lab_fail "the screendump is black"
	SCREEN_SAME=$(image-tool compare /tmp/shot.png /tmp/snap.jpg) ||
		lab_fail "vncsnapshot's capture differs from the screendump: $SCREEN_SAME"
	image-tool ocr-prep /tmp/snap.jpg /tmp/ocr.png 512 48 || lab_fail "cannot prepare the capture for OCR"
	timeout 300 tesseract /tmp/ocr.png /tmp/ocr >/dev/null 2>&1 || lab_fail "tesseract failed"
	SCREEN_TEXT=$(tr '\n' ' ' </tmp/ocr.txt)
	case "$SCREEN_TEXT" in
	*"quick brown fox 4711"*"lazy dog"*) ;;
	*) lab_fail "tesseract read '$SCREEN_TEXT' off the VNC capture, not the guest's two lines" ;;
	esac
}
