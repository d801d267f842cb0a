# virtio-vsock on L1's kernel (vhost-vsock: --vsock cid=3 without socket=). L1 and the guest
# talk AF_VSOCK both ways with vsock-tool (tests/lab/vsock_tool.c, in the guest's initramfs;
# L1 runs the same static binary, unpacked from there):
# 1. the guest's vmw_vsock_virtio_transport binds to the device (ID 0x0013);
# 2. L1 -> guest: the guest's echo server on port 5000, L1 connects to CID 3 and sends 1 MiB,
#    which comes back intact (sha256);
# 3. guest -> L1: L1's echo server on port 6000, the guest connects to CID 2 and sends 256 KiB
#    (sha256); port 6001, where nobody listens, is refused;
# 4. 20 L1 connections at once, 64 KiB each, every one intact;
# 5. a second VM asking for CID 3 is refused at start with a sentence;
# 6. snapshot and restore with a connection open: the connection ends with its VMM (closing
#    /dev/vhost-vsock resets it), the restored VM has CID 3 again and both directions work;
# 7. live migration on this host to a destination with --vsock cid=4 (the source keeps CID 3
#    until it exits): the open connection ends, the guest reads CID 4 at the transport reset,
#    and both directions work at CID 4 (the guest's packets carry its CID, which L1's kernel
#    checks); CID 3 is gone;
# 8. poweroff: status 0, and gureum logged nothing about the device.
# Needs KVM (vhost-vsock writes guest memory behind the software CPU's back): with --accel emu
# it checks that gureum refuses the option there instead.
# lab-smp: 1
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] ||
	lab_pass "gureum-only scenario (snapshots, migration and gureum's messages); skipped for $LAB_VMM"

if [ "${LAB_DIRECT:-0}" = 1 ]; then
	out=$(eval "$(gureum_cmd 1 --vsock cid=3)" </dev/null 2>&1)
	status=$?
	[ $status = 1 ] && echo "$out" | grep -q 'socket=PATH' ||
		lab_fail "on the software CPU --vsock cid=3 was not refused (status $status): $out"
	lab_pass "on the software CPU --vsock cid=3 (vhost-vsock) is refused: $(echo "$out" | grep -m1 'vsock')"
fi

T=/tmp/vvhostvsock
API=/run/vm-vhostvsock.sock
API2=/run/vm-vhostvsock2.sock
SNAP=$T/snap
DETAIL=
ctl() { /lab/bin/gureum ctl --json "$@"; }

# l1_to_guest BYTES NAME CID: L1 connects to the guest's echo server at CID:5000 (retried
# while it is not up yet), sends BYTES and must get them back (sha256).
l1_to_guest() {
	head -c "$1" /dev/urandom >"$T/$2.in"
	start=$(uptime_cs)
	try=0
	until timeout 180 "$TOOL" send "$3" 5000 <"$T/$2.in" >"$T/$2.out" 2>"$T/$2.err"; do
		try=$((try + 1))
		[ $try -lt 5 ] || lab_fail "$2: L1 -> guest (CID $3): $(cat "$T/$2.err")"
		sleep 1
	done
	[ "$(file_hash "$T/$2.in")" = "$(file_hash "$T/$2.out")" ] ||
		lab_fail "$2: L1 -> guest (CID $3): $1 bytes came back as $(wc -c <"$T/$2.out") bytes with another sha256 ($(cat "$T/$2.err"))"
	DETAIL="$DETAIL $2: $1 B L1->guest echo in $((($(uptime_cs) - start) * 10)) ms,"
}

# guest_to_l1 BYTES NAME: the guest connects to CID 2 port 6000 (L1's echo server) and gets
# its bytes back.
guest_to_l1() {
	"$TOOL" listen 6000 2>"$T/listen.err" &
	server=$!
	sleep 0.5
	kill -0 $server 2>/dev/null || lab_fail "$2: L1's vsock echo server did not start: $(cat "$T/listen.err")"
	gwant=$(guest_sha "head -c $1 /dev/urandom >/tmp/g1 && sha256sum /tmp/g1") ||
		lab_fail "$2: guest -> L1: cannot make the payload in the guest"
	start=$(uptime_cs)
	ggot=$(guest_sha 'vsock-tool send 2 6000 </tmp/g1 | sha256sum') ||
		lab_fail "$2: guest -> L1: vsock-tool send 2 6000 failed: $(vm_run 30 'vsock-tool send 2 6000 </dev/null')"
	[ -n "$gwant" ] && [ "$gwant" = "$ggot" ] ||
		lab_fail "$2: guest -> L1: $1 bytes echoed by L1 came back with sha256 '$ggot', sent '$gwant'"
	DETAIL="$DETAIL $1 B guest->L1 echo in $((($(uptime_cs) - start) * 10)) ms,"
	kill $server 2>/dev/null
	wait $server 2>/dev/null
}

# hold_connection NAME CID: an L1 connection to the guest's echo server whose stdin never ends
# (a FIFO held open on fd 4); HELD is its PID.
hold_connection() {
	rm -f "$T/hold"
	mkfifo "$T/hold"
	exec 4<>"$T/hold"
	"$TOOL" send "$2" 5000 <"$T/hold" >"$T/$1.out" 2>"$T/$1.err" &
	HELD=$!
	sleep 1
	kill -0 $HELD 2>/dev/null || lab_fail "$1: the held connection ended at once: $(cat "$T/$1.err")"
}

# held_connection_ends WHAT: the held connection ends within 10 s.
held_connection_ends() {
	i=0
	while kill -0 $HELD 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 $HELD 2>/dev/null && lab_fail "the L1 connection stayed open after $1"
	exec 4>&-
}

rm -rf "$T"
mkdir -p "$T/root"
(cd "$T/root" && zcat "$L2_INITRD" | cpio -id 2>/dev/null)
TOOL=$T/root/bin/vsock-tool
[ -x "$TOOL" ] || lab_fail "no bin/vsock-tool in the guest's initramfs (scripts/guest-image.sh)"
[ -c /dev/vhost-vsock ] || lab_fail "L1 has no /dev/vhost-vsock"

# 1. The driver binds.
vm_boot vvhostvsock "$(gureum_cmd 1 --vsock cid=3 --api-socket $API)"
dev=$(vm_run 30 'grep -l 0x0013 /sys/bus/virtio/devices/*/device') ||
	lab_fail "no virtio device with ID 0x0013 (vsock) in the guest"
dev=${dev%/device}
drv=$(vm_run 30 "readlink $dev/driver") || lab_fail "no driver bound to $dev"
case "$drv" in
*/vmw_vsock_virtio_transport) ;;
*) lab_fail "$dev is bound to '$drv', not vmw_vsock_virtio_transport" ;;
esac
vm_send 'vsock-tool listen 5000 &'
vm_run 10 'sleep 1' >/dev/null

# 2. and 3.
l1_to_guest 1048576 first 3
guest_to_l1 262144 first
refused=$(vm_run 60 'vsock-tool send 2 6001 </dev/null; echo status=$?')
echo "$refused" | grep -q 'status=1' ||
	lab_fail "guest -> L1: a connection to port 6001 (no listener) was not refused: $refused"

# 4. 20 connections at once.
pids=
for i in $(seq 1 20); do
	head -c 65536 /dev/urandom >"$T/p.$i"
	(
		timeout 240 "$TOOL" send 3 5000 <"$T/p.$i" >"$T/o.$i" 2>"$T/e.$i"
		echo $? >"$T/s.$i"
	) &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
for i in $(seq 1 20); do
	[ "$(cat "$T/s.$i")" = 0 ] || lab_fail "connection $i of 20 failed: $(cat "$T/e.$i")"
	[ "$(file_hash "$T/p.$i")" = "$(file_hash "$T/o.$i")" ] ||
		lab_fail "connection $i of 20: 64 KiB came back as $(wc -c <"$T/o.$i") bytes with another sha256"
done

# 5. CID 3 is taken.
out=$(eval "$(gureum_cmd 1 --vsock cid=3)" </dev/null 2>&1)
status=$?
[ $status = 1 ] && echo "$out" | grep -q 'cid=3.*in use' ||
	lab_fail "a second VM with CID 3 was not refused (status $status): $(echo "$out" | tail -n 3)"

# 6. Snapshot and restore with a connection open.
hold_connection held 3
out=$(ctl $API snapshot "$SNAP" --stay-paused) || lab_fail "snapshot failed: $out"
ctl $API quit >/dev/null || lab_fail "quit after the snapshot was refused"
[ "$(vm_wait_exit 60)" = 0 ] || lab_fail "the snapshotted VMM did not exit cleanly"
vm_kill
held_connection_ends "its VMM exited"
vm_restore vvhostvsock-r "$SNAP" $API
vm_run 60 true >/dev/null || lab_fail "the restored guest's shell does not answer"
l1_to_guest 65536 restored 3
guest_to_l1 65536 restored

# 7. Live migration to CID 4 on this host.
hold_connection moving 3
src=$VM
vm_incoming vvhostvsock-dst unix:/run/vvhostvsock-mig.sock $API2 "--vsock cid=4"
dst=$VM
vm_use "$src"
out=$(ctl $API migrate unix:/run/vvhostvsock-mig.sock) || lab_fail "the migration failed: $out"
echo "$out" | grep -q '"precopy":true' || lab_fail "the VM was not pre-copied: $out"
vm_use "$dst"
[ "$(vm_exit_status "$src")" = 0 ] || lab_fail "the source did not exit cleanly after the move"
held_connection_ends "the move"
vm_run 60 true >/dev/null || lab_fail "the migrated guest's shell does not answer"
l1_to_guest 65536 migrated 4
guest_to_l1 65536 migrated
timeout 30 "$TOOL" send 3 5000 </dev/null >/dev/null 2>&1 &&
	lab_fail "CID 3 still answers after its VMM moved away"
grep -q 'it gets 4 here' "$dst/stderr" || lab_fail "the destination did not say the CID changed"

# 8.
status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
complaints=$(cat /run/vm/vvhostvsock/stderr /run/vm/vvhostvsock-r/stderr "$dst/stderr" |
	grep 'virtio-vsock0' | grep -v 'it gets 4 here' | head -n 3)
[ -z "$complaints" ] || lab_fail "gureum complained about the device: $complaints"
lab_pass "vhost-vsock: driver bound ($dev),$DETAIL port without listener refused, 20 concurrent connections x 64 KiB intact, CID in use refused; snapshot/restore and a move to CID 4 on this host ended the open connections and both directions work after each"
