# virtio-blk end to end with the guest's own driver and file system.
# Boot 1, three disks: vda an ext4 image that L1 made with mkfs.ext4 -d (a file inside it must
# read back with L1's checksum), the guest writes a new file there, syncs, unmounts and powers
# off, and L1 reads that file out of the image with debugfs (same checksum) and fsck's the image;
# vda's serial is in /sys/block/vda/serial; vdc is readonly=on and the guest sees it read-only
# (/sys/block/vdc/ro = 1, writes refused) while it reads back L1's bytes.
# gureum only: the guest writes ~4 MB at an odd offset to a fresh qcow2 disk vdd; L1 checks the
# image (gureum img check) and finds the bytes in it (gureum img convert).
# The guest discards the second half of vdb (blkdiscard): L1's file loses those blocks.
# Boot 2: the guest writes 1 MiB to the raw disk vdb with O_DIRECT and fsync, prints a marker
# once dd returned, and L1 kills the VMM with SIGKILL at once: every byte must be in the file
# (nothing the guest was told is written may still sit inside the VMM).
# lab-smp: 1
# lab-timeout: 420
. /lab/lib.sh
require_gureum

W=/tmp/vblk
mkdir -p $W/tree/data
head -c 307200 /dev/urandom >$W/tree/data/host.bin
host_sum=$(sha256sum $W/tree/data/host.bin | cut -d' ' -f1)
mkfs.ext4 -q -F -b 4096 -d $W/tree $W/root.img 32M >$W/mkfs.log 2>&1 ||
	lab_fail "mkfs.ext4 -d failed in L1: $(cat $W/mkfs.log)"
head -c 1048576 /dev/urandom >$W/ro.img
ro_sum=$(sha256sum $W/ro.img | cut -d' ' -f1)
dd if=/dev/urandom of=$W/raw.img bs=1M count=8 2>/dev/null
raw_blocks=$(stat -c %b $W/raw.img)

VMM=${LAB_VMM:-gureum}
disks="$(vm_disk_opts "$VMM" vblk-root $W/root.img) $(vm_disk_opts "$VMM" vblk-raw $W/raw.img)"
disks="$disks $(vm_disk_opts "$VMM" vblk-ro $W/ro.img ro)"
# gureum only: a fresh qcow2 image as vdd (every guest write allocates clusters).
if [ "$VMM" = gureum ]; then
	/lab/bin/gureum img create -f qcow2 $W/q.qcow2 16M >/dev/null ||
		lab_fail "gureum img create -f qcow2 failed in L1"
	disks="$disks --disk $W/q.qcow2,format=qcow2,serial=vblk-qcow2"
fi

# guest_value SECONDS COMMAND: the last line COMMAND prints in the guest (fails the scenario
# when it does not finish or fails).
guest_value() {
	out=$(vm_run "$@") || lab_fail "guest command failed (status $?): $2; output: $out"
	echo "$out" | tail -n 1
}

# ---- boot 1: ext4 on vda, serial, read-only vdc ----
vm_boot vblk-fs "$(virtio_vmm_cmd 1 $disks)"

serial=$(guest_value 30 'echo $(cat /sys/block/vda/serial)') # no newline in the file
[ "$serial" = vblk-root ] || lab_fail "/sys/block/vda/serial is '$serial' (expected vblk-root)"
ro_flags=$(guest_value 30 'echo $(cat /sys/block/vda/ro) $(cat /sys/block/vdc/ro)')
[ "$ro_flags" = "0 1" ] || lab_fail "vda/vdc ro flags are '$ro_flags' (expected '0 1')"
sum=$(guest_value 60 'sha256sum /dev/vdc | cut -d" " -f1')
[ "$sum" = "$ro_sum" ] || lab_fail "read-only disk reads back $sum, L1 wrote $ro_sum"
vm_run 30 'dd if=/dev/zero of=/dev/vdc bs=4096 count=1 oflag=direct 2>/dev/null' >/dev/null &&
	lab_fail "a write to the read-only disk vdc succeeded"

vm_run 60 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt' >/dev/null ||
	lab_fail "the guest cannot mount /dev/vda (ext4 made by L1)"
sum=$(guest_value 60 'sha256sum /mnt/data/host.bin | cut -d" " -f1')
[ "$sum" = "$host_sum" ] || lab_fail "host.bin reads back as $sum in the guest, L1 wrote $host_sum"
vm_run 120 'dd if=/dev/urandom of=/mnt/guest.bin bs=64k count=32 2>/dev/null' >/dev/null ||
	lab_fail "the guest cannot write a 2 MiB file on /dev/vda"
guest_sum=$(guest_value 60 'sha256sum /mnt/guest.bin | cut -d" " -f1')
vm_run 120 'sync && umount /mnt' >/dev/null || lab_fail "sync/umount of /dev/vda failed in the guest"
if [ "$VMM" = gureum ]; then
	q_sum=$(guest_value 120 'dd if=/dev/urandom of=/tmp/q bs=4k count=1000 2>/dev/null; dd if=/tmp/q of=/dev/vdd bs=12k seek=37 conv=fsync 2>/dev/null; sha256sum /tmp/q | cut -d" " -f1')
fi
vm_run 60 'busybox blkdiscard -o 4194304 -l 4194304 /dev/vdb' >/dev/null ||
	lab_fail "blkdiscard of 4 MiB of /dev/vdb failed in the guest"
status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"

blocks=$(stat -c %b $W/raw.img)
# QEMU ignores discards unless told discard=unmap, which vm_disk_opts does not ask for.
[ "$VMM" = qemu ] || [ "$blocks" -le $((raw_blocks * 5 / 8)) ] ||
	lab_fail "discard of half of vdb did not punch the file: $raw_blocks blocks before, $blocks after"
discard_detail="discard punched vdb ($raw_blocks -> $blocks blocks), "
[ "$VMM" = qemu ] && discard_detail=""

l1_sum=$(debugfs -R 'cat /guest.bin' $W/root.img 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$l1_sum" = "$guest_sum" ] ||
	lab_fail "guest.bin: guest wrote $guest_sum, debugfs in L1 reads $l1_sum"
e2fsck -fn $W/root.img >$W/fsck.log 2>&1 ||
	lab_fail "e2fsck finds errors in the image the guest wrote: $(tail -n 5 $W/fsck.log)"
qcow2_detail=
if [ "$VMM" = gureum ]; then
	/lab/bin/gureum img check $W/q.qcow2 >$W/check.log 2>&1 ||
		lab_fail "gureum img check finds errors in the qcow2 the guest wrote: $(tail -n 5 $W/check.log)"
	/lab/bin/gureum img convert -f qcow2 -O raw $W/q.qcow2 $W/q.raw ||
		lab_fail "gureum img convert of the guest's qcow2 failed"
	l1_q_sum=$(dd if=$W/q.raw bs=12k skip=37 2>/dev/null | head -c 4096000 | sha256sum | cut -d' ' -f1)
	[ "$l1_q_sum" = "$q_sum" ] ||
		lab_fail "qcow2 vdd: guest wrote $q_sum at 444 KiB, L1 reads $l1_q_sum"
	qcow2_detail="qcow2 vdd written by the guest reads back in L1 (check clean), "
fi

# ---- boot 2: O_DIRECT + fsync to raw vdb, then SIGKILL ----
vm_boot vblk-kill "$(virtio_vmm_cmd 1 $disks)"
pattern_sum=$(guest_value 60 'dd if=/dev/urandom of=/tmp/p bs=64k count=16 2>/dev/null; sha256sum /tmp/p | cut -d" " -f1')
vm_send 'dd if=/tmp/p of=/dev/vdb bs=64k oflag=direct conv=fsync 2>/dev/null && echo vblk-$((6*7))-synced'
wait_console '^vblk-42-synced' 1 120 || lab_fail "dd oflag=direct conv=fsync to /dev/vdb did not finish"
pid=$(vmm_pid) && kill -9 "$pid"
[ -n "$pid" ] || lab_fail "cannot find the VMM's pid to kill it"
status=$(vm_wait_exit 30)
file_sum=$(head -c 1048576 $W/raw.img | sha256sum | cut -d' ' -f1)
[ "$file_sum" = "$pattern_sum" ] ||
	lab_fail "after SIGKILL the raw disk holds $file_sum, the guest synced $pattern_sum"
vm_kill

lab_pass "$VMM: serial ok, vdc read-only (ro=1, write refused, reads L1's bytes), ext4 from L1 mounted (sha256 ok), guest file read back by debugfs (sha256 ok, fsck clean), ${discard_detail}${qcow2_detail}O_DIRECT+fsync data survived SIGKILL (status $status)"
