# Pause and resume through the control socket (`gureum ctl SOCK pause|resume`) while the guest
# (2 vCPUs) prints a tick every 0.2 s, writes 32 MiB to its virtio-blk disk with O_DIRECT and has
# a virtio-net card on an L1 tap (vhost-net under KVM; userspace on the software CPU):
# - pause returns, status says "paused", no tick reaches the console for 3 s and the VMM uses
#   (almost) no CPU meanwhile; a second pause is refused;
# - resume: ticks go on, the disk write finishes and reads back with the guest's sha256, the
#   guest pings L1 (vhost restarted where it was stopped);
# - ten pause/resume cycles in a row leave the guest working;
# - quit while paused stops the VMM with exit status 0.
# L1 has one vCPU: with two (which QEMU's TCG runs in parallel), the L2 guest triple-faulted at
# boot in the clean-clone CI of a2c3ab6, as vmignet's and vmigrate's did before (see there).
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (control socket); skipped for $LAB_VMM"

SOCK=/run/vm-pause.sock
DISK=/tmp/vpause.img
TAP=vptap0
DATA_MB=32

ctl() { /lab/bin/gureum ctl --json "$SOCK" "$@"; }
state() { ctl status | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
ticks() { tr -d '\r' <"$VM/console" | grep -a -c '^TICK '; }
# cpu_cs: user + system time of the VMM so far, in clock ticks (1/100 s).
cpu_cs() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

rm -f "$DISK"
dd if=/dev/zero of="$DISK" bs=1M count=0 seek=64 2>/dev/null
tap_setup $TAP
vm_boot vpause "$(gureum_cmd 2 "$(vm_disk_opts gureum d0 "$DISK")" "$(vm_net_opts gureum $TAP)" --api-socket $SOCK)"
PID=$(vmm_pid) || lab_fail "cannot find the VMM's process"
vm_run 30 "ip link set eth0 up && ip addr add $LAB_NET_GUEST/$LAB_NET_PREFIX dev eth0 && ping -c 1 -W 10 $LAB_NET_L1" >/dev/null ||
	lab_fail "no network before pausing"
want=$(vm_run 120 "dd if=/dev/urandom of=/tmp/r bs=1M count=$DATA_MB 2>/dev/null && sha256sum </tmp/r" | grep -o '^[0-9a-f]\{64\}')
[ -n "$want" ] || lab_fail "the guest did not hash its data"

vm_send "(i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); echo TICK \$i; sleep 0.2; done) &"
vm_send "(dd if=/tmp/r of=/dev/vda bs=64k oflag=direct 2>/dev/null; echo WROTE-\$((40+2))) &"
wait_console '^TICK ' 5 60 || lab_fail "the guest's ticker does not run"

out=$(ctl pause) || lab_fail "pause failed: $out"
[ "$(state)" = paused ] || lab_fail "status after pause: $(ctl status)"
t0=$(ticks) c0=$(cpu_cs)
sleep 3
t1=$(ticks) c1=$(cpu_cs)
[ "$t1" = "$t0" ] || lab_fail "the guest ran while paused: $t0 -> $t1 ticks in 3 s"
[ $((c1 - c0)) -le 30 ] || lab_fail "the paused VMM used $((c1 - c0))/100 s of CPU in 3 s"
out=$(ctl pause) && lab_fail "a second pause was accepted: $out"
echo "$out" | grep -q 'already paused' || lab_fail "a second pause: unexpected reply $out"

out=$(ctl resume) || lab_fail "resume failed: $out"
[ "$(state)" = running ] || lab_fail "status after resume: $(ctl status)"
wait_console '^TICK ' $((t1 + 5)) 60 || lab_fail "no ticks after resume (stuck at $(ticks))"
wait_console 'WROTE-42' 1 300 || lab_fail "the disk write did not finish after resume"
got=$(vm_run 120 "dd if=/dev/vda bs=1M count=$DATA_MB iflag=direct 2>/dev/null | sha256sum" | grep -o '^[0-9a-f]\{64\}')
[ "$got" = "$want" ] || lab_fail "the disk holds other data than the guest wrote across the pause ($got, want $want)"
vm_run 60 "ping -c 2 -W 10 $LAB_NET_L1" >/dev/null || lab_fail "no network after resume"

for i in 1 2 3 4 5 6 7 8 9 10; do
	ctl pause >/dev/null || lab_fail "pause $i of 10 failed: $(ctl status)"
	ctl resume >/dev/null || lab_fail "resume $i of 10 failed: $(ctl status)"
done
vm_run 60 'echo alive-$((6*7))' | grep -q alive-42 || lab_fail "the guest does not answer after 10 pause/resume cycles"

ctl pause >/dev/null || lab_fail "the last pause failed"
ctl quit >/dev/null || lab_fail "quit while paused was refused"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after quit while paused (expected 0)"
vm_kill
tap_remove $TAP
rm -f "$DISK"
lab_pass "paused (no ticks, $((c1 - c0))/100 s CPU in 3 s), resumed with the disk write intact and the network up, 10 cycles, quit while paused"
