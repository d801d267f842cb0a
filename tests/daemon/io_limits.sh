#!/usr/bin/env bash
# gureumd's I/O limits: a VM's cgroup holds the reads from its disk to --io-read-bps, on the
# block device under the disk's file, and a change while it runs takes effect at once. What
# the user notices is measured: the default guest (on the software CPU, so any host will do)
# reads 6 MiB of its cache=none disk with dd, about 6 s at 1 MiB/s, then far faster once the
# limit is lifted through the daemon. The cgroup's files hold the rules (blkio.throttle.* on
# cgroup v1, io.max on v2) for the disk's whole device; a VM whose disk is on tmpfs is refused
# with the reason. Skipped, saying why, where gureumd has no I/O controller or the guest image
# was not built.
# usage: io_limits.sh GUREUM GUREUMD GUEST_IMAGE_DIR
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") image=$(realpath "$3")
# The disk must be on a block device, so the work directory is the build directory's.
work=$(mktemp -d "$PWD/gureumd-io.XXXXXX")
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"

cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	pkill -KILL -f -- "--disk $work/" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

[[ -r $image/vmlinuz && -r $image/initramfs.cpio.gz ]] || {
	echo "SKIP: no guest image in $image (scripts/guest-image.sh builds it)"
	exit 77
}
start_daemon
missing=$("$gureum" vm --json daemon | json_get io_limits reason)
if [[ -n $missing ]]; then
	echo "SKIP: this gureumd cannot set I/O limits: $missing"
	exit 77
fi
version=$("$gureum" vm --json daemon | json_get cgroups)
echo "cgroups $version"

# The disk: 32 MiB of written blocks (a sparse file's holes read without any device I/O).
disk=$work/disk.img
dd if=/dev/zero of="$disk" bs=1M count=32 conv=fsync status=none
device=$(stat -c '%Hd:%Ld' "$disk")
[[ -e /sys/dev/block/$device/partition ]] && device=$(cat "/sys/dev/block/$device/../dev")
echo "the disk's file is on block device $device"

guest=(--accel emu --kernel "$image/vmlinuz" --initrd "$image/initramfs.cpio.gz"
	--cmdline console=ttyS0 --memory 256M --disk "$disk,cache=none")
"$gureum" vm create io --io-read-bps 1M --io-write-iops 200 -- "${guest[@]}" >/dev/null
"$gureum" vm start io >/dev/null
status=$("$gureum" vm --json info io)
pid=$(json_get pid <<<"$status")
console=$(json_get console_socket <<<"$status")
mapfile -t dirs < <(json_get cgroups <<<"$status" | tr -d "[]',\"" | tr ' ' '\n' | grep .)
io_dir=${dirs[-1]} # v2: the one; v1: cpu, memory, blkio
grep -qx "$pid" "$io_dir/cgroup.procs" || fail "the VM's pid $pid is not in $io_dir"

# rule FILE: the line of FILE in the VM's I/O cgroup for the disk's device ("" when none).
rule() { grep "^$device " "$io_dir/$1" || true; }
if [[ $version == v1 ]]; then
	[[ $(rule blkio.throttle.read_bps_device) == "$device 1048576" ]] ||
		fail "read_bps_device: '$(cat "$io_dir/blkio.throttle.read_bps_device")'"
	[[ $(rule blkio.throttle.write_iops_device) == "$device 200" ]] ||
		fail "write_iops_device: '$(cat "$io_dir/blkio.throttle.write_iops_device")'"
else
	[[ $(rule io.max) == "$device rbps=1048576 wbps=max riops=max wiops=200" ]] ||
		fail "io.max: '$(cat "$io_dir/io.max")'"
fi
echo "ok: the VM's cgroup limits its disk's device $device"

# guest_read SKIP_MIB: seconds the guest's shell takes for 6 MiB of direct reads from vda,
# starting SKIP_MIB in (a part not read before, so no cache can answer).
guest_read() {
	python3 - "$console" "$1" <<'PY'
import socket, sys, time
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
sock.settimeout(1)
seen = b""
def wait_for(text, seconds, poke=False):
    global seen
    end = time.time() + seconds
    poked = 0
    while text not in seen:
        if time.time() > end:
            sys.exit("no %r from the guest within %d s; it said: %r" % (text, seconds, seen[-400:]))
        if poke and time.time() - poked > 2:
            sock.sendall(b"\n")  # a prompt printed before this client came is printed again
            poked = time.time()
        try:
            seen += sock.recv(65536)
        except socket.timeout:
            pass
wait_for(b"gureum-guest# ", 300, poke=True)
seen = b""
start = time.time()
# The shell echoes the line, so the marker is what it prints, not what it is sent.
sock.sendall(b"dd if=/dev/vda of=/dev/null bs=1M count=6 skip=%s iflag=direct && "
             b"echo $((6*7))-READ\n" % sys.argv[2].encode())
wait_for(b"42-READ", 120)
print("%.2f" % (time.time() - start))
PY
}
limited=$(guest_read 0) || fail "the guest's read under the limit: $limited"
echo "6 MiB read by the guest at --io-read-bps 1M: $limited s"
awk -v t="$limited" 'BEGIN { exit !(t >= 6 / 1.25 && t <= 6 / 0.75) }' ||
	fail "6 MiB at 1 MiB/s took $limited s: not within 25% of the limit"

"$gureum" vm set io --io-read-bps 0 >/dev/null
[[ $version == v1 && -z $(rule blkio.throttle.read_bps_device) ]] ||
	[[ $version == v2 && $(rule io.max) == "$device rbps=max wbps=max riops=max wiops=200" ]] ||
	fail "lifting the read limit left '$(rule blkio.throttle.read_bps_device)$(rule io.max)'"
free=$(guest_read 12) || fail "the guest's read without the limit: $free"
echo "the same read with the limit lifted at runtime: $free s"
awk -v f="$free" -v l="$limited" 'BEGIN { exit !(f * 3 <= l) }' ||
	fail "lifting the limit: $free s against $limited s"
[[ $("$gureum" vm --json info io | json_get limits io_read_bps) == 0 &&
	$("$gureum" vm --json info io | json_get limits io_write_iops) == 200 ]] ||
	fail "the status does not show the limits as changed"
echo "ok: the limit holds the guest's reads to its rate, and lifting it at runtime frees them"
"$gureum" vm stop io --force >/dev/null

# A disk on tmpfs: its I/O cannot be limited by a cgroup, and the start says so.
if [[ -d /dev/shm && -w /dev/shm ]]; then
	shm_disk=$(mktemp /dev/shm/gureum-io.XXXXXX)
	truncate -s 1M "$shm_disk"
	"$gureum" vm create shm --io-write-bps 1M -- --accel emu --memory 16M \
		--disk "$shm_disk" >/dev/null
	out=$("$gureum" vm start shm 2>&1) && fail "a VM with I/O limits on a tmpfs disk started"
	rm -f "$shm_disk"
	[[ $out == *"without a block device"* ]] || fail "the tmpfs disk's refusal said: $out"
	[[ $("$gureum" vm --json info shm | json_get state) != running ]] || fail "shm runs"
	echo "ok: a VM with I/O limits on a tmpfs disk is refused: ${out##*: disk }"
	"$gureum" vm delete shm >/dev/null
fi
"$gureum" vm delete io >/dev/null
stop_daemon
echo "PASS: io limits"
