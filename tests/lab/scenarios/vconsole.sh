# --console-device virtio: the guest's shell runs on hvc0 (virtio-console). The kernel command
# line names both consoles: the guest's /init opens /dev/console before it loads the virtio
# modules, so ttyS0 must exist then (early messages and the ready marker go through the UART);
# console=hvc0 comes last, so once virtio_console is loaded hvc0 becomes /dev/console and the
# init's cttyhack starts the shell there. The shell answers over hvc0 (`tty` says /dev/hvc0),
# a long output crosses many transmit buffers, a long input line many receive buffers.
# lab-smp: 1
# lab-timeout: 240
. /lab/lib.sh
require_gureum

L2_CMDLINE="console=ttyS0 console=hvc0 quiet lpj=2000000 tsc=reliable no_timer_check panic=-1"
if [ "${LAB_VMM:-gureum}" = qemu ]; then
	# The peer: microvm with PCIe, one stdio chardev multiplexed between the UART and a
	# virtconsole (input goes to the frontend attached last: the virtconsole).
	vm_start vconsole "$(qemu_cmd 1 | sed -e 's/-M microvm,accel=kvm/-M microvm,accel=kvm,pcie=on/' \
		-e 's/signal=off/signal=off,mux=on/') -device virtio-serial-pci -device virtconsole,chardev=con"
else
	vm_start vconsole "$(gureum_cmd 1 --console-device virtio)"
fi
wait_console "$READY_MARKER" 1 120 || lab_fail "no '$READY_MARKER' on the console"
vm_send 'echo "tty=$(tty) active=$(cat /sys/class/tty/console/active)"'
wait_console '^tty=' 1 60 || lab_fail "the guest shell did not answer (input over hvc0 lost?)"
line=$(tr -d '\r' <"$VM/console" | grep -a '^tty=' | tail -n 1)
case "$line" in
*"tty=/dev/hvc0"*) ;;
*) lab_fail "the shell does not run on hvc0: $line" ;;
esac

# Output: 2000 lines (~9 KB) through the transmit queue, then a marker.
vm_send 'seq 1 2000; echo "seq-$((40+2))-done"'
wait_console '^seq-42-done' 1 60 || lab_fail "long output over hvc0 did not arrive"
n=$(tr -d '\r' <"$VM/console" | grep -a -c -E '^[0-9]+$')
[ "$n" -ge 2000 ] || lab_fail "long output over hvc0: only $n of 2000 lines arrived"

# Input: one 600-character line (the console delivers it across receive buffers).
long=$(printf 'x%.0s' $(seq 1 600))
vm_send "s='$long'; echo len=\${#s}"
wait_console '^len=600' 1 60 || lab_fail "a 600-character input line did not arrive intact"

vm_send 'poweroff -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
# A sanitizer build (meson -Db_sanitize=address,undefined) reports without failing by itself.
grep -q -E 'runtime error|Sanitizer' "$VM/stderr" && lab_fail "sanitizer reports in gureum's stderr"
lab_pass "$LAB_VMM: shell on hvc0 ($line), 2000 lines out, 600-character line in, exit status 0"
