# Snapshot and restore (`gureum ctl SOCK snapshot DIR`, `gureum run --restore DIR`) of a guest
# with 2 vCPUs (1 under KVM in the lab, see below), a virtio-blk disk and a virtio-net card on an L1 tap (vhost-net under KVM):
# - the guest keeps 8 MiB of random data in RAM (tmpfs), has written 16 MiB to its disk, and
#   prints a tick every 0.2 s; the snapshot is taken with --stay-paused, then the VMM quits;
# - the restored VM goes on from there: the ticks continue from the last one before the
#   snapshot (not from 1: no reboot), the RAM data and the disk read back with the sha256 the
#   guest computed before, the NIC announces the guest's MAC (3 RARP frames reach the tap
#   before the guest sends anything), the guest pings L1; the guest's wall clock (`date +%s`) is
#   within 2 s of L1's although the restore came over 3 s after the snapshot (under KVM the
#   kvmclock is advanced by the time away: docs/snapshot-format.md, "Time"; on the software
#   CPU it is only reported); its offset and clocksource are reported;
# - a snapshot of the running restored VM (it keeps running) restores again, and a snapshot of
#   that one restores twice (three rounds; the same snapshot twice), RAM and disk intact;
# - a corrupted state file and a restore with another --memory are refused with one line each
#   and exit status 1, nothing started.
# L1 has one vCPU: with two (which QEMU's TCG runs in parallel), the restored L2 guest
# triple-faulted while reading its disk in the third round in the clean-clone CI of 7180bc9, as
# vpause's, vmignet's and vmigrate's L2 guests did before under a 2-vCPU L1.
# lab-smp: 1
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (control socket); skipped for $LAB_VMM"

# 2 vCPUs on the software CPU; 1 under KVM in L1: with 2, the L2 guest triple-faulted three
# times in about fifteen runs during its first O_DIRECT disk write after boot, before any
# snapshot or migration (cause unknown; suspected in L1's emulated nested SVM, see the
# closing note of 2026-12-05). vpause keeps 2 vCPUs under KVM.
VCPUS=1
[ "${LAB_DIRECT:-0}" = 1 ] && VCPUS=2

SOCK=/run/vm-snap.sock
DISK=/tmp/vsnap.img
SNAP=/tmp/vsnap.d
SNAP2=/tmp/vsnap2.d
SNAP3=/tmp/vsnap3.d
TAP=vstap0
DATA_MB=16

ctl() { /lab/bin/gureum ctl --json "$SOCK" "$@"; }
state() { ctl status | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
last_tick() { console_ticks "$VM" | tail -n1; }

rm -rf "$DISK" "$SNAP" "$SNAP2" "$SNAP3"
dd if=/dev/zero of="$DISK" bs=1M count=0 seek=64 2>/dev/null
tap_setup $TAP
vm_boot vsnap "$(gureum_cmd $VCPUS "$(vm_disk_opts gureum d0 "$DISK")" "$(vm_net_opts gureum $TAP)" --api-socket $SOCK)"
vm_run 30 "ip link set eth0 up && ip addr add $LAB_NET_GUEST/$LAB_NET_PREFIX dev eth0 && ping -c 1 -W 10 $LAB_NET_L1" >/dev/null ||
	lab_fail "no network before the snapshot"
ram_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/ram bs=1M count=8 2>/dev/null && sha256sum </tmp/ram")
[ -n "$ram_sha" ] || lab_fail "the guest did not hash its RAM data"
disk_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/d bs=1M count=$DATA_MB 2>/dev/null && dd if=/tmp/d of=/dev/vda bs=64k oflag=direct 2>/dev/null && sha256sum </tmp/d")
[ -n "$disk_sha" ] || lab_fail "the guest did not write its disk data"
vm_send "(i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); echo TICK \$i; sleep 0.2; done) &"
wait_console '^TICK ' 5 60 || lab_fail "the guest's ticker does not run"

out=$(ctl snapshot "$SNAP" --stay-paused) || lab_fail "snapshot failed: $out"
[ "$(state)" = paused ] || lab_fail "status after snapshot --stay-paused: $(ctl status)"
at_snapshot=$(last_tick)
snap_ms=$(echo "$out" | sed -n 's/.*"ms":\([0-9]*\).*/\1/p')
mem_bytes=$(echo "$out" | sed -n 's/.*"memory_bytes":\([0-9]*\).*/\1/p')
[ -s "$SNAP/state" ] && [ -s "$SNAP/config.json" ] || lab_fail "the snapshot directory is incomplete: $(ls -l "$SNAP")"
ctl quit >/dev/null || lab_fail "quit after the snapshot was refused"
[ "$(vm_wait_exit 60)" = 0 ] || lab_fail "the snapshotted VMM did not exit cleanly"
vm_kill
sleep 3 # the guest's wall clock must catch up with these seconds after the restore

rx_before=$(cat /sys/class/net/$TAP/statistics/rx_packets)
vm_restore vsnap-r1 "$SNAP" $SOCK
sleep 1
announced=$(($(cat /sys/class/net/$TAP/statistics/rx_packets) - rx_before))
[ "$announced" -ge 3 ] || lab_fail "the restored VM announced its MAC $announced times on the tap (want 3 RARP frames)"
ticks_go_on_from "$at_snapshot" "after the restore"
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM changed across the snapshot ($got, want $ram_sha)"
got=$(guest_sha "dd if=/dev/vda bs=1M count=$DATA_MB iflag=direct 2>/dev/null | sha256sum")
[ "$got" = "$disk_sha" ] || lab_fail "the disk reads back other data after the restore ($got, want $disk_sha)"
vm_run 60 "ping -c 2 -W 10 $LAB_NET_L1" >/dev/null || lab_fail "no network after the restore"
guest_now=$(vm_run 30 'date +%s' | grep -o '^[0-9]*$')
skew=$((guest_now - $(date +%s)))
clocksource=$(vm_run 30 'cat /sys/devices/system/clocksource/clocksource0/current_clocksource' | grep -o '^[a-z_-]*$')
# Both accelerators move the guest's clock on by the time away (KVM the kvmclock, the software
# CPU the TSC its guest keeps time with).
[ "${skew#-}" -le 2 ] || lab_fail "the restored guest's wall clock is ${skew} s off L1's (clocksource ${clocksource}; the restore came over 3 s after the snapshot)"

out=$(ctl snapshot "$SNAP2") || lab_fail "snapshot of the restored VM failed: $out"
[ "$(state)" = running ] || lab_fail "the VM did not run on after a snapshot without --stay-paused"
t=$(last_tick)
wait_console '^TICK ' $(($(grep -a -c '^TICK ' "$VM/console") + 3)) 30 || lab_fail "no ticks after the second snapshot (stuck at $t)"
ctl quit >/dev/null
vm_wait_exit 60 >/dev/null
vm_kill
vm_restore vsnap-r2 "$SNAP2" $SOCK
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM changed across the second snapshot ($got, want $ram_sha)"
# A third round: snapshot the restored VM again, then restore that snapshot twice.
out=$(ctl snapshot "$SNAP3") || lab_fail "the third snapshot failed: $out"
ctl quit >/dev/null
vm_wait_exit 60 >/dev/null
vm_kill
for run in r3 r4; do
	vm_restore "vsnap-$run" "$SNAP3" $SOCK
	wait_console '^TICK ' 3 60 || lab_fail "$run: no ticks after restoring the third snapshot"
	got=$(guest_sha "sha256sum </tmp/ram")
	[ "$got" = "$ram_sha" ] || lab_fail "$run: guest RAM changed across the third snapshot"
	got=$(guest_sha "dd if=/dev/vda bs=1M count=$DATA_MB iflag=direct 2>/dev/null | sha256sum")
	[ "$got" = "$disk_sha" ] || lab_fail "$run: the disk reads back other data"
	ctl quit >/dev/null
	vm_wait_exit 60 >/dev/null
	vm_kill
done

# (busybox cp drops a sparse file's trailing hole: the memory file is linked, not copied; the
# restore maps it privately and never writes it)
mkdir -p /tmp/vsnap-bad.d
cp "$SNAP/config.json" "$SNAP/state" /tmp/vsnap-bad.d/
ln "$SNAP/memory" /tmp/vsnap-bad.d/memory
printf 'X' | dd of=/tmp/vsnap-bad.d/state bs=1 seek=40 conv=notrunc 2>/dev/null
out=$(/lab/bin/gureum run --restore /tmp/vsnap-bad.d --console none 2>&1)
[ $? = 1 ] && echo "$out" | grep -q 'corrupt' || lab_fail "a corrupted state file was not refused: $out"
out=$(/lab/bin/gureum run --restore "$SNAP" --memory 512M --console none 2>&1)
[ $? = 1 ] && echo "$out" | grep -q 'bytes of RAM' || lab_fail "a restore with other --memory was not refused: $out"

tap_remove $TAP
rm -rf "$DISK" "$SNAP" "$SNAP2" "$SNAP3" /tmp/vsnap-bad.d
lab_pass "snapshot in ${snap_ms} ms ($((mem_bytes >> 20)) MiB of RAM written), restored in ${RESTORE_MS} ms, ticks, RAM, disk and network intact, clock skew ${skew} s (${clocksource}); three rounds of snapshot and restore, the last snapshot restored twice; bad snapshots refused"
