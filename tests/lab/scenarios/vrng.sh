# virtio-rng over virtio-pci: the guest's virtio_pci and virtio_rng drivers bind to the device
# (hw_random's current source is virtio_rng.0), its queue and config vectors are MSI-X lines in
# /proc/interrupts, 4 KiB from /dev/hwrng look random (about half the bytes >= 0x80: a buffer of
# one repeated byte has none or all), and the queue interrupt fired. With gureum, --stats shows
# that 64 KiB more (about 1000 requests of 64 bytes, one kick each) cost next to no MMIO exits
# on the device's BAR: the doorbell is an ioeventfd (on the software CPU, where nothing exits,
# that every kick reached the device through the BAR). Finally the PCI driver is unbound and
# bound again (device reset, MSI-X torn down and set up) and the device still serves. A second
# boot with pci=nomsi checks the INTx fallback. With gureum, the checks run after a guest
# reboot (a fresh VM and device).
# lab-smp: 1
# lab-timeout: 300
. /lab/lib.sh
require_gureum

vmm=$(lab_vmm)
if [ "$vmm" = qemu ]; then
	vm_boot vrng "$(virtio_vmm_cmd 1 $(vm_rng_opts))"
else
	vm_boot vrng "$(virtio_vmm_cmd 1 $(vm_rng_opts) --stats)"
	# A guest reboot is a power cycle (a new VM, device and KVM routes): run the checks on
	# the second boot.
	vm_send 'reboot -f'
	wait_console "$READY_MARKER" 2 120 || lab_fail "no second '$READY_MARKER' after 'reboot -f'"
	vm_run 60 true >/dev/null || lab_fail "the guest shell does not answer after the reboot"
fi

current=$(vm_run 30 cat /sys/class/misc/hw_random/rng_current) ||
	lab_fail "no hw_random device in the guest"
case "$current" in
virtio_rng.*) ;;
*) lab_fail "hw_random's current source is '$current', not virtio_rng" ;;
esac

bytes=$(vm_run 60 "head -c 4096 /dev/hwrng | wc -c") || lab_fail "reading /dev/hwrng failed"
[ "$bytes" = 4096 ] || lab_fail "read $bytes bytes from /dev/hwrng, expected 4096"
high=$(vm_run 60 "head -c 4096 /dev/hwrng | tr -d '\\000-\\177' | wc -c") ||
	lab_fail "reading /dev/hwrng failed"
[ "$high" -gt 1700 ] && [ "$high" -lt 2400 ] ||
	lab_fail "$high of 4096 bytes from /dev/hwrng are >= 0x80 (expected about 2048: not random)"

irqs=$(vm_run 30 "grep virtio /proc/interrupts") || lab_fail "no virtio lines in /proc/interrupts"
echo "$irqs" | grep -q 'PCI-MSI' || lab_fail "the virtio interrupts are not MSI-X: $irqs"
nvec=$(echo "$irqs" | grep -c 'virtio')
[ "$nvec" -ge 2 ] || lab_fail "expected a config and a queue vector, got: $irqs"
queue_irqs=$(echo "$irqs" | grep -v config | awk '{ print $2 }' | head -n 1)
[ "${queue_irqs:-0}" -gt 0 ] || lab_fail "the queue's MSI-X vector never fired: $irqs"

more=$(vm_run 120 "head -c 65536 /dev/hwrng | wc -c") || lab_fail "reading 64 KiB failed"
[ "$more" = 65536 ] || lab_fail "read $more bytes, expected 65536"

# Unbind and rebind the PCI driver: the device is reset, MSI-X disabled and set up again,
# irqfds and doorbells unbound and bound again; the new instance must work like the first.
rebound=$(vm_run 60 'cd /sys/bus/pci/drivers/virtio-pci && d=$(ls -d 0000:*) && echo $d >unbind && echo $d >bind && cd / && cat /sys/class/misc/hw_random/rng_current') ||
	lab_fail "unbinding and rebinding virtio-pci failed: $rebound"
case "$rebound" in
virtio_rng.*) ;;
*) lab_fail "after rebinding virtio-pci, hw_random's source is '$rebound'" ;;
esac
again=$(vm_run 60 "head -c 4096 /dev/hwrng | wc -c") || lab_fail "reading /dev/hwrng after rebinding failed"
[ "$again" = 4096 ] || lab_fail "read $again bytes after rebinding, expected 4096"

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"

detail="rng_current=$current, 4096 random bytes ($high >= 0x80), $nvec MSI-X vectors, queue vector fired $queue_irqs times, works again after a driver rebind ($rebound)"
if [ "$vmm" = gureum ]; then
	bar_exits=$(sed -n 's/^gureum: stat mmio_virtio-rng0 \([0-9]*\)$/\1/p' "$VM/stderr")
	[ -n "$bar_exits" ] || bar_exits=0
	if [ "${GUREUM_ACCEL:-}" = emu ]; then
		# The software CPU has no VM exits to save: every access to the BAR, kicks
		# included, is a call on the vCPU's thread, so there is no ioeventfd to check.
		[ "$bar_exits" -gt 1000 ] ||
			lab_fail "only $bar_exits accesses to the virtio-rng BAR counted for ~1000 kicks on the software CPU: --stats misses them"
		detail="after a reboot: $detail, $bar_exits BAR accesses on the software CPU (no exits there)"
	else
		# Probing and setup take a few dozen accesses; exiting kicks would add about 1000.
		[ "$bar_exits" -lt 500 ] ||
			lab_fail "$bar_exits MMIO exits on the virtio-rng BAR for ~1000 requests: the doorbell is not an ioeventfd"
		detail="after a reboot: $detail, $bar_exits BAR exits in all (kicks via ioeventfd)"
	fi
fi

# INTx: with pci=nomsi the driver falls back to the legacy interrupt (the _PRT's GSI, level
# triggered) and acknowledges it by reading the ISR.
L2_CMDLINE="$L2_CMDLINE pci=nomsi"
vm_boot vrng-intx "$(virtio_vmm_cmd 1 $(vm_rng_opts))"
bytes=$(vm_run 60 "head -c 4096 /dev/hwrng | wc -c") || lab_fail "INTx: reading /dev/hwrng failed"
[ "$bytes" = 4096 ] || lab_fail "INTx: read $bytes bytes from /dev/hwrng, expected 4096"
irqs=$(vm_run 30 "grep virtio /proc/interrupts") || lab_fail "INTx: no virtio line in /proc/interrupts"
echo "$irqs" | grep -q 'IO-APIC' || lab_fail "INTx: the virtio interrupt is not an IO-APIC line: $irqs"
intx=$(echo "$irqs" | awk '{ print $2 }' | head -n 1)
[ "${intx:-0}" -gt 0 ] || lab_fail "INTx: the line never fired: $irqs"
status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "INTx: exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$detail; with pci=nomsi: 4096 bytes over INTx ($intx interrupts)"
