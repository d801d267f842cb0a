# Disk and network card hotplug (gureum ctl SOCK disk-add / disk-remove / nic-add / nic-remove;
# ACPI PCI hotplug) with the Debian kernel:
# - the VM boots without disks or cards; disk-add of an ext4 image L1 made (mkfs.ext4 -d) with a serial:
#   the guest's acpiphp finds the function and virtio-blk gives it vda (its serial in sysfs);
# - the guest mounts it, reads L1's file back (sha256), writes a file, syncs and unmounts;
# - disk-remove by serial: the guest lets the disk go (vda disappears, ctl disks lists none),
#   and L1 reads the guest's file out of the image with debugfs (same sha256, e2fsck clean);
# - the same image added again read-only (the slot is free again): vda comes back read-only;
# - nic-add of a user-network card: the guest gets eth0 with the MAC the VMM reports, and its
#   udhcpc a lease from the VMM's DHCP server (10.0.2.15); nic-remove: eth0 goes;
# - a snapshot records the disk pinned to its slot; a reset (gureum ctl reset) boots the guest
#   again with the added disk present from the start; the power button ends the VM, exit 0.
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (disk hotplug); skipped for $LAB_VMM"

SOCK=/run/vm-hotplug.sock
SNAP=/tmp/hotplug-snap
W=/tmp/vhotplug
ctl() { /lab/bin/gureum ctl "$SOCK" "$@"; }
guest_value() {
	out=$(vm_run "$@") || lab_fail "guest command failed (status $?): $2; output: $out"
	echo "$out" | tail -n 1
}
# wait_guest COMMAND WHAT: polls until COMMAND succeeds in the guest (30 s).
wait_guest() {
	for _ in $(seq 1 30); do
		vm_run 20 "$1" >/dev/null && return 0
		sleep 1
	done
	lab_fail "$2 after 30 s; guest: $(vm_run 20 'dmesg | tail -n 5' | tr '\n' ' '); VMM: $(tail -n 5 "$VM/stderr" | tr '\n' ' ')"
}

mkdir -p $W/tree
head -c 307200 /dev/urandom >$W/tree/host.bin
host_sum=$(sha256sum $W/tree/host.bin | cut -d' ' -f1)
mkfs.ext4 -q -F -b 4096 -d $W/tree $W/hot.img 32M >$W/mkfs.log 2>&1 ||
	lab_fail "mkfs.ext4 -d failed in L1: $(cat $W/mkfs.log)"

vm_boot hotplug "$(gureum_cmd 1 --api-socket $SOCK)"
vm_run 20 'test -e /sys/block/vda' >/dev/null && lab_fail "the guest has a vda before any disk-add"
vm_run 20 'test -e /sys/class/net/eth0' >/dev/null && lab_fail "the guest has an eth0 before any nic-add"

out=$(ctl disk-add $W/hot.img,format=raw,serial=hot1) || lab_fail "disk-add refused: $out"
wait_guest 'test -e /sys/block/vda' "the added disk did not appear as vda"
serial=$(guest_value 30 'echo $(cat /sys/block/vda/serial)')
[ "$serial" = hot1 ] || lab_fail "the added disk's serial is '$serial', not hot1"
vm_run 60 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt' >/dev/null ||
	lab_fail "the guest cannot mount the added disk: $(vm_run 20 'dmesg | tail -n 5')"
sum=$(guest_value 60 'sha256sum /mnt/host.bin | cut -d" " -f1')
[ "$sum" = "$host_sum" ] || lab_fail "host.bin reads back as $sum in the guest, L1 wrote $host_sum"
vm_run 120 'dd if=/dev/urandom of=/mnt/guest.bin bs=64k count=16 2>/dev/null' >/dev/null ||
	lab_fail "the guest cannot write on the added disk"
guest_sum=$(guest_value 60 'sha256sum /mnt/guest.bin | cut -d" " -f1')
vm_run 120 'sync && umount /mnt' >/dev/null || lab_fail "sync/umount of the added disk failed"
DETAIL="disk-add: vda (serial hot1) mounted, L1's file read back, 1 MiB written;"

out=$(ctl disk-remove hot1) || lab_fail "disk-remove refused: $out"
wait_guest '! test -e /sys/block/vda' "the guest did not let vda go"
for _ in $(seq 1 10); do
	[ -z "$(ctl disks)" ] && break
	sleep 1
done
[ -z "$(ctl disks)" ] || lab_fail "ctl disks after the removal: $(ctl disks)"
l1_sum=$(debugfs -R 'cat /guest.bin' $W/hot.img 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$l1_sum" = "$guest_sum" ] || lab_fail "guest.bin: guest wrote $guest_sum, debugfs in L1 reads $l1_sum"
e2fsck -fn $W/hot.img >$W/fsck.log 2>&1 || lab_fail "e2fsck after the removal: $(tail -n 5 $W/fsck.log)"
DETAIL="$DETAIL disk-remove: vda gone, L1 reads the guest's file (sha256 ok, fsck clean);"

out=$(ctl disk-add $W/hot.img,format=raw,readonly=on) || lab_fail "the second disk-add refused: $out"
wait_guest 'test -e /sys/block/vda' "the disk added again did not appear"
ro=$(guest_value 30 'cat /sys/block/vda/ro')
[ "$ro" = 1 ] || lab_fail "the disk added read-only has ro=$ro in the guest"
slot=$(ctl disks | sed -n 's/.*PCI slot \([0-9]*\).*/\1/p')
DETAIL="$DETAIL added again read-only (ro=1) in slot $slot;"

out=$(ctl nic-add user) || lab_fail "nic-add refused: $out"
mac=$(echo "$out" | sed -n 's/.*MAC \([0-9a-f:]*\),.*/\1/p')
wait_guest 'test -e /sys/class/net/eth0' "the added card did not appear as eth0"
guest_mac=$(guest_value 30 'cat /sys/class/net/eth0/address')
[ "$guest_mac" = "$mac" ] || lab_fail "eth0 has the MAC $guest_mac, the VMM says $mac"
lease=$(vm_run 90 "ip link set eth0 up; udhcpc -i eth0 -q -n -t 10 2>&1 | grep 'has'") ||
	lab_fail "no DHCP lease on the added card: $lease"
echo "$lease" | grep -q 10.0.2.15 || lab_fail "the added card's lease: $lease"
out=$(ctl nic-remove 0) || lab_fail "nic-remove refused: $out"
wait_guest '! test -e /sys/class/net/eth0' "the guest did not let eth0 go"
for _ in $(seq 1 10); do
	[ -z "$(ctl nics)" ] && break
	sleep 1
done
[ -z "$(ctl nics)" ] || lab_fail "ctl nics after the removal: $(ctl nics)"
DETAIL="$DETAIL nic-add: eth0 with MAC $mac got 10.0.2.15 by DHCP, nic-remove: eth0 gone;"

rm -rf "$SNAP"
out=$(ctl snapshot "$SNAP") || lab_fail "snapshot with the added disk refused: $out"
grep -q "hot.img,readonly=on.*,slot=$slot\"" "$SNAP/config.json" ||
	lab_fail "the snapshot's config: $(cat "$SNAP/config.json")"
rm -rf "$SNAP"
DETAIL="$DETAIL a snapshot records it in slot $slot;"

# A reset (the reset button): the guest boots again at once, and the disk added while the last
# boot ran is in its slot from the start, still read-only.
out=$(ctl reset) || lab_fail "reset refused: $out"
wait_console "$READY_MARKER" 2 120 || lab_fail "no second boot after the reset: $(tail -n 5 "$VM/stderr" | tr '\n' ' ')"
ro=$(guest_value 30 'cat /sys/block/vda/ro')
[ "$ro" = 1 ] || lab_fail "after the reset the guest's vda has ro=$ro (expected the read-only disk added before)"
DETAIL="$DETAIL a reset boots the guest again with the disk in place (read-only);"

ctl power-button >/dev/null || lab_fail "power-button refused"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after the power button"
lab_pass "$DETAIL powered off by its power button"
