# Memory hotplug with virtio-mem (--memory 512M --memory-hotplug 1G; gureum ctl SOCK memory
# TOTAL) with the Debian kernel:
# - at boot the guest's virtio_mem driver finds the 1 GiB region and nothing plugged;
# - memory 1G: the guest plugs 512 MiB (ctl says so) and its MemTotal grows by it (within the
#   memory map's overhead); the guest fills 600 MiB of tmpfs, more than it booted with free;
# - the file gone, memory 640M: the guest unplugs down to 128 MiB and MemTotal falls with it;
# - a snapshot and its restore keep the 128 MiB plugged; the power button ends it, exit 0.
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (virtio-mem); skipped for $LAB_VMM"

SOCK=/run/vm-memhot.sock
SNAP=/tmp/memhot-snap
MIB=1048576
ctl() { /lab/bin/gureum ctl "$SOCK" "$@"; }
mem_total_kib() { vm_run 30 "awk '/^MemTotal/ { print \$2 }' /proc/meminfo"; }
plugged_mib() { /lab/bin/gureum ctl --json "$SOCK" memory | sed -n 's/.*"plugged":\([0-9]*\).*/\1/p' | awk '{ print $1 / 1048576 }'; }
# wait_plugged MIB: until the guest has MIB plugged (60 s).
wait_plugged() {
	for _ in $(seq 1 60); do
		[ "$(plugged_mib)" = "$1" ] && return 0
		sleep 1
	done
	lab_fail "the guest has $(plugged_mib) MiB plugged, not $1, after 60 s; guest: $(vm_run 20 'dmesg | tail -n 4' | tr '\n' ' ')"
}

vm_boot memhot "$(gureum_cmd 1 --memory 512M --memory-hotplug 1G --api-socket $SOCK)"
vm_run 20 'dmesg | grep -q "virtio_mem.*region size: 0x40000000"' >/dev/null ||
	lab_fail "the guest's virtio_mem did not find the 1 GiB region: $(vm_run 20 'dmesg | grep -i virtio_mem')"
before=$(mem_total_kib)

out=$(ctl memory 1G) || lab_fail "memory 1G refused: $out"
wait_plugged 512
sleep 2
grown=$(mem_total_kib)
[ "$grown" -ge $((before + 500 * 1024)) ] && [ "$grown" -le $((before + 512 * 1024)) ] ||
	lab_fail "MemTotal went from $before to $grown KiB with 512 MiB plugged"
out=$(vm_run 120 'mkdir -p /mnt/fill && mount -t tmpfs -o size=700M fill /mnt/fill && dd if=/dev/zero of=/mnt/fill/f bs=1M count=600 2>&1') ||
	lab_fail "the guest could not fill 600 MiB of tmpfs with the memory added: $out"
vm_run 30 'rm -f /mnt/fill/f && umount /mnt/fill' >/dev/null
DETAIL="memory 1G: 512 MiB plugged, MemTotal $((before / 1024)) -> $((grown / 1024)) MiB, 600 MiB of tmpfs filled;"

out=$(ctl memory 640M) || lab_fail "memory 640M refused: $out"
wait_plugged 128
sleep 2
shrunk=$(mem_total_kib)
[ "$shrunk" -le $((before + 130 * 1024)) ] && [ "$shrunk" -ge $((before + 120 * 1024)) ] ||
	lab_fail "MemTotal is $shrunk KiB with 128 MiB plugged (booted with $before)"
DETAIL="$DETAIL memory 640M: unplugged to 128 MiB, MemTotal $((shrunk / 1024)) MiB;"

rm -rf "$SNAP"
out=$(ctl snapshot "$SNAP") || lab_fail "snapshot with memory plugged refused: $out"
ctl quit >/dev/null
vm_wait_exit 30 >/dev/null
vm_start memhot2 "/lab/bin/gureum run --restore $SNAP --api-socket $SOCK --console stdio"
for _ in $(seq 1 30); do [ -S $SOCK ] && ctl status >/dev/null 2>&1 && break; sleep 1; done
[ "$(plugged_mib)" = 128 ] || lab_fail "the restored VM has $(plugged_mib) MiB plugged, not 128"
vm_send ''
vm_run 30 true >/dev/null || lab_fail "the restored guest's shell does not answer"
again=$(mem_total_kib)
[ "$again" = "$shrunk" ] || lab_fail "MemTotal after the restore: $again KiB, before $shrunk"
rm -rf "$SNAP"
DETAIL="$DETAIL restored from a snapshot with 128 MiB plugged, same MemTotal;"

ctl power-button >/dev/null || lab_fail "power-button refused"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after the power button"
lab_pass "$DETAIL powered off by its power button"
