# Disk snapshots (`gureum ctl SOCK snapshot DIR --disk-snapshot`) of a guest whose counter lives
# on its disk: every 0.2 s it reads the count from sector 0 of a qcow2 virtio-blk disk
# (O_DIRECT), adds one, writes it back (O_DIRECT, fsync) and prints it.
# - The snapshot (--stay-paused) moves the disk to a new overlay beside the image, named in the
#   reply; resumed, the VM counts on in the overlay and the image no longer changes (its sha256
#   stays the same to the end).
# - A restore writes to an overlay of its own, and its count goes on from the snapshot's: the
#   first tick after it is the last one before the snapshot plus one and the next ones follow
#   without a gap, although the snapshotted VM ran on and wrote more (a restore on the image the
#   VM kept writing would read the later count and jump).
# - Three rounds (a disk snapshot of the restored VM, restored in turn), the last snapshot
#   restored twice, both going on from the same count.
# - A disk snapshot into a directory that cannot be made fails with one line; the VM runs on,
#   on the disk it had, and no overlay is left behind.
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (control socket); skipped for $LAB_VMM"

SOCK=/run/vm-dsnap.sock
WORK=/tmp/vdisksnap
DISK=$WORK/disk.qcow2
TICKER='echo 0 | dd of=/dev/vda bs=512 count=1 conv=sync,fsync oflag=direct 2>/dev/null; (while :; do v=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -n1); v=$((v+1)); echo $v | dd of=/dev/vda bs=512 count=1 conv=sync,fsync oflag=direct 2>/dev/null; echo DTICK $v; sleep 0.2; done) &'

ctl() { /lab/bin/gureum ctl --json "$SOCK" "$@"; }
ticks() { tr -d '\r' <"$VM/console" | sed -n 's/^DTICK \([0-9]*\)$/\1/p'; }
tick_count() { ticks | wc -l; }
# wait_ticks N: N more ticks than now
wait_ticks() {
	want=$(($(tick_count) + $1))
	limit=$(($(date +%s) + 60))
	while [ "$(tick_count)" -lt "$want" ]; do
		vm_exited && lab_fail "$VM_NAME exited while counting"
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "$VM_NAME: fewer than $1 ticks in 60 s (at $(ticks | tail -n1))"
		sleep 0.2
	done
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
stop_vm() {
	ctl quit >/dev/null
	vm_wait_exit 60 >/dev/null
	vm_kill
}
# disk_snapshot DIR: a disk snapshot of the running VM; AT is the count it holds, IMAGE the
# image it keeps (with its sha256 in IMAGE_SHA), OVERLAY where the VM writes now.
disk_snapshot() {
	image=$(sed -n 's/.*writes to the new overlay \([^;]*\);.*/\1/p' "$VM/stderr" | tail -n1)
	[ -n "$image" ] || image=$DISK
	out=$(ctl snapshot "$1" --stay-paused --disk-snapshot) || lab_fail "$VM_NAME: the disk snapshot failed: $out"
	AT=$(ticks | tail -n1)
	OVERLAY=$(echo "$out" | sed -n 's/.*"overlays":\["\([^"]*\)"\].*/\1/p')
	[ -f "$OVERLAY" ] || lab_fail "$VM_NAME: the reply names no overlay that exists: $out"
	IMAGE=$image
	IMAGE_SHA=$(sha "$IMAGE")
	grep -q "overlay=on" "$1/config.json" || lab_fail "the snapshot does not record its image with overlay=on: $(cat "$1/config.json")"
	ctl resume >/dev/null || lab_fail "$VM_NAME: resume after the disk snapshot was refused"
	wait_ticks 5
	last=$(ticks | tail -n1)
	[ "$last" -ge $((AT + 5)) ] || lab_fail "$VM_NAME: the count did not go on after the disk snapshot ($AT, then $last)"
	[ "$(sha "$IMAGE")" = "$IMAGE_SHA" ] || lab_fail "$IMAGE changed after the disk snapshot that keeps it"
}
# check_goes_on_from AT: the restored VM's ticks follow AT without a gap or a repeat.
check_goes_on_from() {
	wait_ticks 4
	expect=$(($1 + 1))
	for t in $(ticks | head -n4); do
		[ "$t" = "$expect" ] || lab_fail "$VM_NAME: after the restore the count went $(ticks | head -n4 | tr '\n' ' ')(the snapshot held $1)"
		expect=$((expect + 1))
	done
}

rm -rf "$WORK"
mkdir -p "$WORK"
/lab/bin/gureum img create -f qcow2 "$DISK" 64M >/dev/null || lab_fail "cannot create $DISK"
vm_boot vdsnap "$(gureum_cmd 1 --disk "$DISK,format=qcow2,serial=d0" --api-socket $SOCK)"
vm_send "$TICKER"
wait_ticks 5

# A failed disk snapshot changes nothing.
touch "$WORK/not-a-dir"
out=$(ctl snapshot "$WORK/not-a-dir" --disk-snapshot 2>&1) && lab_fail "a disk snapshot into a file was accepted: $out"
[ "$(ls "$WORK" | grep -c ovl)" = 0 ] || lab_fail "a failed disk snapshot left an overlay: $(ls "$WORK")"
wait_ticks 2

disk_snapshot "$WORK/s1"
at1=$AT image1=$IMAGE sha1=$IMAGE_SHA
stop_vm
vm_restore vdsnap-r1 "$WORK/s1" $SOCK
check_goes_on_from "$at1"
disk_snapshot "$WORK/s2"
at2=$AT image2=$IMAGE sha2=$IMAGE_SHA
stop_vm
vm_restore vdsnap-r2 "$WORK/s2" $SOCK
check_goes_on_from "$at2"
disk_snapshot "$WORK/s3"
at3=$AT image3=$IMAGE sha3=$IMAGE_SHA
stop_vm
for run in r3 r4; do
	vm_restore "vdsnap-$run" "$WORK/s3" $SOCK
	check_goes_on_from "$at3"
	stop_vm
done
[ "$(sha "$image1")" = "$sha1" ] && [ "$(sha "$image2")" = "$sha2" ] && [ "$(sha "$image3")" = "$sha3" ] ||
	lab_fail "an image kept by a disk snapshot changed later"
overlays=$(ls "$WORK" | grep -c 'ovl.*qcow2$')
rm -rf "$WORK"
lab_pass "three rounds of disk snapshot and restore (counts $at1, $at2, $at3), the last restored twice: each restore went on from its snapshot's count on its own overlay ($overlays overlays), the kept images unchanged; a failed disk snapshot changed nothing"
