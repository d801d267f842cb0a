# Migration between two gureum processes (`gureum ctl SOCK migrate URI`, `gureum run --incoming
# URI`) of a guest with 2 vCPUs (1 under KVM in the lab, see below) and a virtio-blk disk that prints a tick every 0.2 s:
# - a migration to a URI where nobody listens is refused and the VM runs on where it was;
# - so is one to a destination whose --cpu-model (x86-64-v1) lacks features the guest saw:
#   it answers before any memory moves, naming them, and exits;
# - a migration capped by --max-bandwidth keeps to it, is seen by migrate-status while status
#   is answered and pause refused, and migrate-cancel ends it: the VM runs on here; one whose
#   destination is killed midway fails the same way;
# - over a unix socket, while the guest keeps rewriting 4 MiB of RAM: under KVM the RAM is
#   copied while the VM runs (pre-copy over KVM's dirty log) and the VM is paused only for the
#   last round, a shorter time than the migration; on the software CPU it is paused for the
#   whole copy. The source exits 0 once the destination has the VM, and there the ticks go on
#   from the source's last one (no reboot), 8 MiB of RAM data and 16 MiB written to the disk
#   read back with the sha256 the guest took before, the guest's wall clock is within 2 s of
#   L1's, and the shell answers;
#   (the first migration asks for a 1 ms pause, so KVM's pre-copy goes round after round);
# - then on again over TCP (127.0.0.1) to a third process, which also runs it on: on the
#   software CPU with the RAM zstd-compressed; under KVM raw, capped at 16 MiB/s, with
#   --auto-converge while the guest rewrites a 32 MiB buffer in a loop: the vCPUs must be
#   throttled.
# (No NIC here: both ends would open the same tap on one host; across hosts each has its own.)
# lab-smp: 2
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

DISK=/tmp/vmig.img
DATA_MB=16
S1=/run/vm-mig1.sock S2=/run/vm-mig2.sock S3=/run/vm-mig3.sock

# migrate SOCK URI [OPTIONS]: moves the VM behind SOCK; MIG_MS, MIG_DOWN, MIG_ROUNDS,
# MIG_PRECOPY are what it reports.
migrate() {
	out=$(/lab/bin/gureum ctl --json "$1" migrate "$2" $3) || lab_fail "migrate to $2 failed: $out"
	MIG_MS=$(echo "$out" | sed -n 's/.*"ms":\([0-9]*\).*/\1/p')
	MIG_DOWN=$(echo "$out" | sed -n 's/.*"downtime_ms":\([0-9]*\).*/\1/p')
	MIG_ROUNDS=$(echo "$out" | sed -n 's/.*"rounds":\([0-9]*\).*/\1/p')
	MIG_PRECOPY=$(echo "$out" | sed -n 's/.*"precopy":\([a-z]*\).*/\1/p')
}
# ticks_go_on: the current VM's ticker advances by 3 more.
ticks_go_on() {
	wait_console '^TICK ' $(($(grep -a -c '^TICK ' "$VM/console") + 3)) 30
}
rm -f "$DISK"
dd if=/dev/zero of="$DISK" bs=1M count=0 seek=64 2>/dev/null
vm_boot vmig1 "$(gureum_cmd $VCPUS "$(vm_disk_opts gureum d0 "$DISK")" --api-socket $S1)"
ram_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/ram bs=1M count=8 2>/dev/null && sha256sum </tmp/ram")
disk_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/d bs=1M count=$DATA_MB 2>/dev/null && dd if=/tmp/d of=/dev/vda bs=64k oflag=direct 2>/dev/null && sha256sum </tmp/d")
[ -n "$ram_sha" ] && [ -n "$disk_sha" ] || lab_fail "the guest did not hash its data"
vm_send "(i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); echo TICK \$i; sleep 0.2; done) &"
wait_console '^TICK ' 5 60 || lab_fail "the guest's ticker does not run"

out=$(/lab/bin/gureum ctl --json $S1 migrate unix:/run/nobody.sock) && lab_fail "a migration to nowhere succeeded: $out"
echo "$out" | grep -q 'cannot connect' || lab_fail "a migration to nowhere: unexpected reply $out"
ticks_go_on || lab_fail "the VM stopped after a refused migration"

SRC=$VM
vm_incoming vmigx unix:/run/vm-mig-x.sock /run/vm-migx.sock "--cpu-model x86-64-v1"
DEST=$VM
vm_use "$SRC"
out=$(/lab/bin/gureum ctl --json $S1 migrate unix:/run/vm-mig-x.sock) &&
	lab_fail "a migration to a destination without the guest's CPU features succeeded: $out"
echo "$out" | grep -q 'refused the VM: .*lacks features the guest was started with.*sse4_2' ||
	lab_fail "a destination lacking CPU features: unexpected reply $out"
/lab/bin/gureum ctl --json $S1 status | grep -q '"state":"running"' || lab_fail "the source is not running after the refusal"
ticks_go_on || lab_fail "the VM stopped after a destination refused its CPU"
[ "$(vm_exit_status "$DEST")" = 1 ] || lab_fail "the refusing destination did not exit 1: $(tail -3 "$DEST/stderr")"

vm_send "(while true; do dd if=/dev/urandom of=/tmp/churn bs=1M count=4 2>/dev/null; done) &"
SRC=$VM
# A migration capped at 16 MiB/s takes seconds here: long enough to watch, cancel and break.
# migrate_slow NAME URI SOCK: starts one to a new destination in the background ($mig, its
# reply in /tmp/$NAME.out) and returns once migrate-status shows bytes sent.
migrate_slow() {
	vm_incoming "$1" "$2" "$3"
	DEST=$VM
	vm_use "$SRC"
	/lab/bin/gureum ctl --json $S1 migrate "$2" --max-bandwidth 16M >"/tmp/$1.out" 2>&1 &
	mig=$!
	limit=$(($(date +%s) + 30))
	until st=$(/lab/bin/gureum ctl --json $S1 migrate-status) &&
		echo "$st" | grep -q '"state":"active"' && ! echo "$st" | grep -q '"transferred_bytes":0,'; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "$1: migrate-status never showed the migration under way: $st"
		sleep 0.2
	done
}
migrate_slow vmigc unix:/run/vm-mig-c.sock /run/vm-migc.sock
sleep 1
st=$(/lab/bin/gureum ctl --json $S1 migrate-status)
sent=$(echo "$st" | sed -n 's/.*"transferred_bytes":\([0-9]*\).*/\1/p')
ms=$(echo "$st" | sed -n 's/.*"elapsed_ms":\([0-9]*\).*/\1/p')
[ "$sent" -gt 0 ] && [ $((sent / (ms + 1) * 1000)) -le $((18 * 1048576)) ] ||
	lab_fail "--max-bandwidth 16M: $sent bytes in $ms ms ($st)"
/lab/bin/gureum ctl --json $S1 status | grep -q '"state":"' || lab_fail "status is not answered during a migration"
out=$(/lab/bin/gureum ctl $S1 pause 2>&1) && lab_fail "a pause during a migration succeeded"
echo "$out" | grep -q 'migration to unix:/run/vm-mig-c.sock is under way' || lab_fail "a pause during a migration: $out"
/lab/bin/gureum ctl $S1 migrate-cancel >/dev/null || lab_fail "migrate-cancel failed"
wait $mig && lab_fail "a cancelled migration succeeded: $(cat /tmp/vmigc.out)"
grep -q 'cancelled.*the VM stays here' /tmp/vmigc.out || lab_fail "a cancelled migration: $(cat /tmp/vmigc.out)"
/lab/bin/gureum ctl --json $S1 migrate-status | grep -q '"state":"cancelled"' || lab_fail "migrate-status does not say cancelled"
ticks_go_on || lab_fail "the VM stopped after a cancelled migration"
[ "$(vm_exit_status "$DEST")" = 1 ] || lab_fail "the destination of a cancelled migration did not exit 1"
rate="$((sent / (ms + 1) * 1000 / 1048576)) MiB/s under --max-bandwidth 16M"

# The destination killed midway (its gureum process: vm_start's pid is its shell's).
migrate_slow vmigk unix:/run/vm-mig-k.sock /run/vm-migk.sock
killed=
for pid in $(pidof gureum); do
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--incoming unix:/run/vm-mig-k.sock' &&
		kill -9 "$pid" && killed=$pid
done
[ -n "$killed" ] || lab_fail "no destination process to kill"
wait $mig && lab_fail "a migration to a killed destination succeeded: $(cat /tmp/vmigk.out)"
grep -q 'the VM stays here' /tmp/vmigk.out || lab_fail "a killed destination: unexpected reply $(cat /tmp/vmigk.out)"
/lab/bin/gureum ctl --json $S1 status | grep -q '"state":"running"' || lab_fail "the source is not running after its destination died"
ticks_go_on || lab_fail "the VM stopped after its destination died mid-migration"
vm_incoming vmig2 unix:/run/vm-mig.sock $S2
# A 1 ms downtime target: the rounds go on (up to 30) while the guest keeps dirtying pages.
migrate $S1 unix:/run/vm-mig.sock "--downtime-ms 1"
ms1=$MIG_MS
if [ "${LAB_DIRECT:-0}" = 1 ]; then
	[ "$MIG_PRECOPY" = false ] || lab_fail "the software CPU has no dirty log, yet precopy=$MIG_PRECOPY"
	how="paused for all ${MIG_DOWN} ms"
else
	[ "$MIG_PRECOPY" = true ] || lab_fail "KVM's migration did not copy while running: $out"
	[ "$MIG_DOWN" -lt "$MIG_MS" ] || lab_fail "the pause ($MIG_DOWN ms) was not shorter than the migration ($MIG_MS ms)"
	[ "$MIG_ROUNDS" -ge 1 ] || lab_fail "no pre-copy round after the first copy under a 1 ms target: $out"
	how="pre-copy in $MIG_ROUNDS rounds, paused ${MIG_DOWN} ms"
fi
[ "$(vm_exit_status "$SRC")" = 0 ] || lab_fail "the source did not exit 0 after the migration: $(tail -3 "$SRC/stderr")"
ticks_go_on_from "$(console_ticks "$SRC" | tail -n1)" "the destination"
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM differs after the migration ($got, want $ram_sha)"
got=$(guest_sha "dd if=/dev/vda bs=1M count=$DATA_MB iflag=direct 2>/dev/null | sha256sum")
[ "$got" = "$disk_sha" ] || lab_fail "the disk reads back other data after the migration"
# The guest's wall clock did not jump: within 2 s of L1's after the move.
guest_now=$(vm_run 30 'date +%s' | grep -o '^[0-9]*$')
skew=$((guest_now - $(date +%s)))
# (The software CPU's guest keeps time with its TSC, moved on by the pause like KVM's kvmclock;
# docs/snapshot-format.md, "Time".)
[ "${skew#-}" -le 2 ] ||
	lab_fail "after the migration the guest's wall clock is ${skew} s off L1's"

SRC=$VM
# Under KVM the second one runs against a guest rewriting a 32 MiB buffer in a loop, faster
# than the 16 MiB/s link: auto-converge must throttle its vCPUs.
how2=compressed
if [ "${LAB_DIRECT:-0}" != 1 ]; then
	# One process, no forks (which cost seconds in nested L2): each read from /dev/zero
	# rewrites dd's 32 MiB buffer.
	vm_send "dd if=/dev/zero of=/dev/null bs=32M count=100000 2>/dev/null &"
	sleep 2
fi
vm_incoming vmig3 tcp:127.0.0.1:47411 $S3
if [ "${LAB_DIRECT:-0}" = 1 ]; then
	migrate $S2 tcp:127.0.0.1:47411 --compress
else
	# Raw: compressed, a buffer of zeroes would not load the link at all.
	migrate $S2 tcp:127.0.0.1:47411 "--auto-converge --max-bandwidth 16M"
	throttle=$(echo "$out" | sed -n 's/.*"throttle_pct":\([0-9]*\).*/\1/p')
	[ "${throttle:-0}" -ge 20 ] || lab_fail "auto-converge did not throttle a guest dirtying faster than the link: $out"
	how2="auto-converge throttled the vCPUs to $((100 - throttle))% over $MIG_ROUNDS rounds, paused $MIG_DOWN ms"
fi
ms2=$MIG_MS
[ "$(vm_exit_status "$SRC")" = 0 ] || lab_fail "the second source did not exit 0"
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM differs after the second migration"
vm_run 30 'echo moved-$((6*7))' | grep -q moved-42 || lab_fail "the guest does not answer after two migrations"
/lab/bin/gureum ctl $S3 quit >/dev/null
vm_wait_exit 60 >/dev/null
vm_kill
rm -f "$DISK"
lab_pass "a migration to nowhere and one to a CPU lacking its features refused, one cancelled ($rate) and one to a destination killed midway failed, the VM ran on each time; unix migration in ${ms1} ms ($how) under a 4 MiB rewrite loop, TCP in ${ms2} ms ($how2); ticks, RAM, disk and wall clock (skew ${skew} s) intact, sources exited 0"
