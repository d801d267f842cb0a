# Display benchmark (run by bench/display.sh; not in the default list): the same guest (1 vCPU,
# same kernel and initramfs) under gureum with `--display vnc=...,width=720,height=400` (efifb
# and fbcon, 90x25) and under Debian's QEMU 7.2 (`-M pc -vga std -vnc`, SeaBIOS's VGA text mode
# drawn by the kernel's vgacon, 720x400 as QEMU renders 80x25), one after the other in this
# one L1 with KVM. The cursor is hidden in both (a blinking one would be the only traffic).
# One libvncclient client (vnc-tool, tight/zrle/hextile as it prefers) per phase:
#   idle    the console untouched for DISPBENCH_IDLE s (default 60): bytes the client received
#           (TCP_INFO), updates, and the VMM's CPU time outside the guest (utime + stime -
#           guest_time from /proc/PID/stat: the vCPU threads' time in the guest is the same
#           guest's in both VMMs and would drown the display's cost)
#   scroll  500 lines written to /dev/tty0 by the guest's shell, measured over a 30 s window
#           that starts with them
#   latency 10 times: a line written to the guest's serial console ("echo ... >/dev/tty0") and
#           the client's clock from then to the next update (both VMMs pay the same guest path:
#           serial, shell, console driver; the difference is how soon the VMM notices and sends)
# Prints "DBENCH <vmm> <metric> <value>" lines.
# lab-extra: display
# lab-smp: 1
# lab-timeout: 1200
. /lab/lib.sh

IDLE=${DISPBENCH_IDLE:-60}
LINES=500
SCROLL_WINDOW=30
ROUNDS=10
GUREUM_PORT=5900
QEMU_PORT=5901

bench_line() {
	echo "DBENCH $*"
}

# CPU time of process $1 outside its guest, in milliseconds (USER_HZ is 100); and all of it.
cpu_ms() {
	awk '{ print ($14 + $15 - $43) * 10 }' "/proc/$1/stat"
}
total_cpu_ms() {
	awk '{ print ($14 + $15) * 10 }' "/proc/$1/stat"
}

# start_client OUT ARGS...: vnc-tool in the background, once it has its first picture.
start_client() {
	out=$1
	shift
	vnc-tool "$@" >"$out" 2>&1 &
	CLIENT=$!
	limit=$(($(date +%s) + 60))
	until grep -q '^ready' "$out"; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "vnc-tool got no first picture: $(cat "$out")"
		kill -0 $CLIENT 2>/dev/null || lab_fail "vnc-tool ended: $(cat "$out")"
		sleep 0.2
	done
}

# field NAME FILE: the number after NAME on the client's result line.
field() {
	sed -n "s/.* $1 \([0-9]*\).*/\1/p" "$2" | tail -n 1
}

measure() {
	vmm=$1 port=$2
	pid=$(vmm_pid) || lab_fail "$vmm: no VMM process found"
	vm_run 30 "echo 0 >/sys/class/graphics/fbcon/cursor_blink 2>/dev/null; printf '\\033[?25l\\033[2J\\033[H' >/dev/tty0" >/dev/null ||
		lab_fail "$vmm: cannot hide the cursor"
	sleep 2

	start_client /tmp/idle.out 127.0.0.1:$port watch "$IDLE"
	before=$(cpu_ms "$pid") total_before=$(total_cpu_ms "$pid")
	wait $CLIENT || lab_fail "$vmm: idle client failed: $(cat /tmp/idle.out)"
	after=$(cpu_ms "$pid") total_after=$(total_cpu_ms "$pid")
	bench_line "$vmm" idle_bytes "$(field bytes /tmp/idle.out)"
	bench_line "$vmm" idle_updates "$(sed -n 's/^updates \([0-9]*\).*/\1/p' /tmp/idle.out)"
	bench_line "$vmm" idle_cpu_ms $((after - before))
	bench_line "$vmm" idle_cpu_with_guest_ms $((total_after - total_before))

	start_client /tmp/scroll.out 127.0.0.1:$port watch "$SCROLL_WINDOW"
	before=$(cpu_ms "$pid")
	vm_send "i=0; while [ \$i -lt $LINES ]; do i=\$((i+1)); echo scrolling text line \$i of $LINES, the quick brown fox; done >/dev/tty0"
	wait $CLIENT || lab_fail "$vmm: scroll client failed: $(cat /tmp/scroll.out)"
	after=$(cpu_ms "$pid")
	bench_line "$vmm" scroll_bytes "$(field bytes /tmp/scroll.out)"
	bench_line "$vmm" scroll_updates "$(sed -n 's/^updates \([0-9]*\).*/\1/p' /tmp/scroll.out)"
	bench_line "$vmm" scroll_cpu_ms $((after - before))

	rm -f /tmp/trigger
	mkfifo /tmp/trigger
	vnc-tool 127.0.0.1:$port latency $ROUNDS </tmp/trigger >/tmp/latency.out 2>&1 &
	CLIENT=$!
	exec 5>/tmp/trigger
	sleep 3
	for i in $(seq $ROUNDS); do
		vm_send "echo latency probe $i >/dev/tty0"
		echo go >&5
		sleep 1.5
	done
	exec 5>&-
	wait $CLIENT || lab_fail "$vmm: latency client failed: $(cat /tmp/latency.out)"
	median=$(sed -n 's/^latency-ms \([0-9.]*\)$/\1/p' /tmp/latency.out | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }')
	bench_line "$vmm" latency_median_ms "$median"
	bench_line "$vmm" latency_missed "$(grep -c 'latency-ms none' /tmp/latency.out)"
}

require_gureum
L2_CMDLINE="console=tty0 $L2_CMDLINE"
vm_boot dgureum "$(gureum_cmd 1 --display vnc=127.0.0.1:$GUREUM_PORT,width=720,height=400)"
measure gureum $GUREUM_PORT
vm_poweroff

vm_boot dqemu "qemu-system-x86_64 -M pc,accel=kvm -cpu host -smp 1 -m $L2_MEMORY \
	-nodefaults -no-user-config -vga std -display none -vnc 127.0.0.1:$((QEMU_PORT - 5900)) \
	-monitor none -chardev stdio,id=con,signal=off -serial chardev:con -no-reboot \
	-kernel $L2_KERNEL -initrd $L2_INITRD -append '$L2_CMDLINE'"
measure qemu $QEMU_PORT
vm_poweroff
lab_pass "display benchmark done"
