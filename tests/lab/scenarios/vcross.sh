# A running VM moves from KVM to the software CPU and back (`gureum run --incoming URI --accel
# emu`, then `--accel kvm`: the configuration travels with the VM, accelerator included, and
# the destination's options override it): both gureum processes in L1, the guest started under KVM with
# --cpu-model x86-64-v2, printing a tick every 0.5 s, with 4 MiB of RAM data and 4 MiB written
# to its virtio-blk disk. After each move:
# - the ticks go on from the source's last one (no reboot, no gap of more than one tick);
# - the RAM data and the disk read back with the sha256 the guest took before;
# - the guest's wall clock is within 3 s of L1's (it reads the kvmclock pages KVM wrote, with
#   its TSC, which the software CPU runs on at KVM's rate);
# - the shell answers;
# and at the end the guest's kernel logged no MSR access the CPU refused, no machine check and
# no stuck interrupt (its PIT, PIC and I/O APIC came over translated, docs/snapshot-format.md).
# Then a snapshot taken on KVM (`gureum run --restore DIR --accel emu`) restores on the
# software CPU: its ticks go on from the snapshot's, RAM intact, the shell answers.
# On the software CPU the VM runs emulated inside L1, itself emulated by QEMU: slow, but only a
# few shell commands run there.
# lab-smp: 1
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (control socket); skipped for $LAB_VMM"
[ "${LAB_DIRECT:-0}" = 1 ] && lab_fail "vcross needs KVM: it runs in L1 only"

DISK=/tmp/vcross.img
S1=/run/vx1.sock S2=/run/vx2.sock S3=/run/vx3.sock
MODEL=x86-64-v2

# move SOCK URI: migrates the VM behind SOCK; MOVE_MS and MOVE_DOWN are what it reports.
move() {
	out=$(/lab/bin/gureum ctl --json "$1" migrate "$2") || lab_fail "migrate to $2 failed: $out"
	MOVE_MS=$(echo "$out" | sed -n 's/.*"ms":\([0-9]*\).*/\1/p')
	MOVE_DOWN=$(echo "$out" | sed -n 's/.*"downtime_ms":\([0-9]*\).*/\1/p')
}

# check_moved SRC WHERE: the VM now behind $VM continues SRC's and keeps its data.
check_moved() {
	[ "$(vm_exit_status "$1")" = 0 ] || lab_fail "$2: the source did not exit 0: $(tail -3 "$1/stderr")"
	ticks_go_on_from "$(console_ticks "$1" | tail -n1)" "$2" 180
	got=$(guest_sha "sha256sum </tmp/ram")
	[ "$got" = "$ram_sha" ] || lab_fail "$2: guest RAM differs ($got, want $ram_sha)"
	got=$(guest_sha "dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | sha256sum")
	[ "$got" = "$disk_sha" ] || lab_fail "$2: the disk reads back other data"
	guest_now=$(vm_run 60 'date +%s' | grep -o '^[0-9]*$')
	skew=$((guest_now - $(date +%s)))
	[ "${skew#-}" -le 3 ] || lab_fail "$2: the guest's wall clock is ${skew} s off L1's"
	vm_run 60 'echo moved-$((6*7))' | grep -q moved-42 || lab_fail "$2: the shell does not answer"
}

rm -f "$DISK"
dd if=/dev/zero of="$DISK" bs=1M count=0 seek=16 2>/dev/null
vm_boot vx1 "$(gureum_cmd 1 "$(vm_disk_opts gureum d0 "$DISK")" --api-socket $S1 --cpu-model $MODEL)"
ram_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/ram bs=1M count=4 2>/dev/null && sha256sum </tmp/ram")
disk_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/d bs=1M count=4 2>/dev/null && dd if=/tmp/d of=/dev/vda bs=64k oflag=direct 2>/dev/null && sha256sum </tmp/d")
[ -n "$ram_sha" ] && [ -n "$disk_sha" ] || lab_fail "the guest did not hash its data"
vm_send "(i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); echo TICK \$i; sleep 0.5; done) &"
wait_console '^TICK ' 4 60 || lab_fail "the guest's ticker does not run"

SRC=$VM
vm_incoming vx2 unix:/run/vx2-in.sock $S2 "--accel emu"
move $S1 unix:/run/vx2-in.sock
wait_log vx2 'it ran on the kvm accelerator, now on emu' "the destination did not say the VM moved from KVM"
/lab/bin/gureum ctl --json $S2 status | grep -q '"accel":"emu"' || lab_fail "status does not say the software CPU runs the VM: $(/lab/bin/gureum ctl --json $S2 status)"
check_moved "$SRC" "KVM to the software CPU"
to_emu="KVM to the software CPU in $MOVE_MS ms (paused $MOVE_DOWN ms), clock skew ${skew} s"

SRC=$VM
vm_incoming vx3 unix:/run/vx3-in.sock $S3 "--accel kvm"
move $S2 unix:/run/vx3-in.sock
wait_log vx3 'it ran on the emu accelerator, now on kvm' "the destination did not say the VM moved from the software CPU"
/lab/bin/gureum ctl --json $S3 status | grep -q '"accel":"kvm"' || lab_fail "status does not say KVM runs the VM: $(/lab/bin/gureum ctl --json $S3 status)"
check_moved "$SRC" "the software CPU back to KVM"
to_kvm="back to KVM in $MOVE_MS ms (paused $MOVE_DOWN ms), clock skew ${skew} s"

bad=$(vm_run 60 "dmesg | grep -i -E 'unchecked MSR|MSR access error|machine check|mce: \\[|irq [0-9]+: nobody cared|spurious 8259A' | head -n 3" | grep -v '^TICK')
[ -z "$bad" ] || lab_fail "the guest's kernel complained after the moves: $bad"

# A snapshot taken on KVM restores on the software CPU.
SNAP=/tmp/vcross-snap
rm -rf "$SNAP"
out=$(/lab/bin/gureum ctl $S3 snapshot "$SNAP" --stay-paused) || lab_fail "snapshot on KVM failed: $out"
at_snapshot=$(console_ticks "$VM" | tail -n1)
/lab/bin/gureum ctl $S3 quit >/dev/null
[ "$(vm_wait_exit 60)" = 0 ] || lab_fail "the snapshotted VMM did not exit cleanly"
vm_kill
vm_start vx4 "/lab/bin/gureum run --restore $SNAP --accel emu --console stdio --api-socket /run/vx4.sock"
wait_log vx4 'it ran on the kvm accelerator, now on emu' "the snapshot did not restore on the software CPU"
ticks_go_on_from "$at_snapshot" "restored on the software CPU" 180
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM differs after the restore on the software CPU"
vm_run 60 'echo restored-$((6*7))' | grep -q restored-42 || lab_fail "the restored guest's shell does not answer"
/lab/bin/gureum ctl /run/vx4.sock quit >/dev/null
vm_wait_exit 60 >/dev/null
vm_kill
rm -rf "$DISK" "$SNAP"
lab_pass "$to_emu; $to_kvm; ticks, RAM, disk and shell intact, no kernel complaint; a snapshot taken on KVM restored on the software CPU (ticks on from $TICKS_FIRST)"
