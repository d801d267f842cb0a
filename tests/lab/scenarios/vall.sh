# Every virtio device at once: two disks (one read-only), a NIC on a tap with vhost-net, rng,
# balloon and the console on virtio-console (gureum: --console-device virtio; the UART stays
# for early messages). The guest's /sys/bus/virtio/devices lists each with its device ID
# (net 1, blk 2, console 3, rng 4, balloon 5) and a bound driver, /proc/interrupts shows
# PCI-MSI vectors (MSI-X: virtioN-config plus queue vectors) for each, the disks answer with
# their serials and data, the NIC pings L1, and poweroff gives exit status 0.
# With lab.vmm=qemu: the same devices on QEMU microvm (pcie=on), its virtconsole on a null
# chardev (QEMU's console stays on ttyS0); QEMU's balloon has no MSI-X, so INTx is accepted there.
# lab-smp: 1
# lab-timeout: 300
. /lab/lib.sh
require_gureum

vmm=$(lab_vmm)
TAP=vatap0
DISK0=/tmp/vall0.img
DISK1=/tmp/vall1.img
dd if=/dev/zero of=$DISK0 bs=1M count=0 seek=16 2>/dev/null
# The read-only disk carries a known first sector, read back in the guest.
printf 'vall-disk-1\n' | dd of=$DISK1 conv=notrunc 2>/dev/null
dd if=/dev/zero of=$DISK1 bs=1M count=0 seek=8 2>/dev/null
tap_setup $TAP

devices="$(vm_disk_opts "$vmm" vall0 $DISK0) $(vm_disk_opts "$vmm" vall1 $DISK1 ro)"
devices="$devices $(vm_net_opts "$vmm" $TAP) $(vm_rng_opts "$vmm") $(vm_balloon_opts "$vmm")"
if [ "$vmm" = qemu ]; then
	devices="$devices -device virtio-serial-pci -chardev null,id=vc -device virtconsole,chardev=vc"
else
	# As in vconsole: ttyS0 exists before the virtio modules load, hvc0 (last) then becomes
	# /dev/console for the shell.
	L2_CMDLINE="console=ttyS0 console=hvc0 quiet lpj=2000000 tsc=reliable no_timer_check panic=-1"
	devices="$devices --console-device virtio"
fi
vm_boot vall "$(virtio_vmm_cmd 1 "$devices")"

# "virtioN 0xID driver" per device, sorted by ID.
list=$(vm_run 60 'for d in /sys/bus/virtio/devices/*; do echo "${d##*/} $(cat $d/device) $(basename "$(readlink $d/driver)")"; done') ||
	lab_fail "cannot list /sys/bus/virtio/devices in the guest"
echo "$list" | sed 's/^/lab: guest virtio device: /' >&2
ids=$(echo "$list" | awk '{ print $2 }' | sort | tr '\n' ' ')
[ "$ids" = "0x0001 0x0002 0x0002 0x0003 0x0004 0x0005 " ] ||
	lab_fail "device IDs in /sys/bus/virtio/devices are '$ids', expected net, 2 blk, console, rng, balloon (0x0001 0x0002 0x0002 0x0003 0x0004 0x0005)"
for pair in 0x0001:virtio_net 0x0002:virtio_blk 0x0003:virtio_console 0x0004:virtio_rng 0x0005:virtio_balloon; do
	echo "$list" | awk -v id="${pair%%:*}" -v drv="${pair#*:}" '$2 == id && $3 != drv { bad = 1 } END { exit bad }' ||
		lab_fail "a device with ID ${pair%%:*} is not bound to ${pair#*:}: $list"
done

# MSI-X: each device has its config vector "virtioN-config" on a PCI-MSI line (with INTx
# the kernel would show one "virtioN" line on the IO-APIC instead).
irqs=$(vm_run 60 "grep virtio /proc/interrupts") || lab_fail "no virtio lines in /proc/interrupts"
nvec=0
for dev in $(echo "$list" | awk '{ print $1 }'); do
	# QEMU 7.2's virtio-balloon-pci has no MSI-X capability at all: INTx is its best.
	[ "$vmm" = qemu ] && echo "$list" | grep -q "^$dev 0x0005 " && continue
	echo "$irqs" | grep "PCI-MSI" | grep -q " $dev-config" ||
		lab_fail "$dev has no PCI-MSI config vector in /proc/interrupts: $irqs"
	nvec=$((nvec + $(echo "$irqs" | grep "PCI-MSI" | grep -c " $dev-")))
done

# The serial files have no newline.
serials=$(vm_run 30 'echo $(cat /sys/block/vda/serial) $(cat /sys/block/vdb/serial)') ||
	lab_fail "no serials for vda/vdb"
[ "$serials" = "vall0 vall1" ] || lab_fail "disk serials are '$serials', expected 'vall0 vall1'"
ro=$(vm_run 30 'cat /sys/block/vdb/ro') || lab_fail "no /sys/block/vdb/ro"
[ "$ro" = 1 ] || lab_fail "vdb (readonly=on) has ro=$ro in the guest"
first=$(vm_run 30 'head -n 1 /dev/vdb') || lab_fail "cannot read /dev/vdb"
[ "$first" = vall-disk-1 ] || lab_fail "the first line of vdb is '$first', expected vall-disk-1"
vm_run 60 'dd if=/dev/zero of=/dev/vda bs=64k count=16 oflag=direct 2>/dev/null && sync' >/dev/null ||
	lab_fail "writing 1 MiB to vda failed"

vm_run 30 "ip link set eth0 up && ip addr add $LAB_NET_GUEST/$LAB_NET_PREFIX dev eth0" >/dev/null ||
	lab_fail "cannot configure eth0"
vm_run 60 "ping -c 2 -W 10 $LAB_NET_L1 >/dev/null" || lab_fail "the guest cannot ping L1 over eth0"

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after poweroff -f (expected 0)"
vm_kill
tap_remove $TAP
lab_pass "$vmm: 6 virtio devices with IDs $(echo "$ids" | tr ' ' ',' | sed 's/,$//'), $nvec MSI-X vectors, disks, ping and poweroff fine"
