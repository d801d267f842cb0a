# virtio-vsock with gureum's Unix-socket host side (--vsock cid=3,socket=PATH, Firecracker's
# "hybrid vsock"). The guest's vmw_vsock_virtio_transport binds to the device (ID 0x0013) and
# reads CID 3. Both ends use vsock-tool (tests/lab/vsock_tool.c, in the guest's initramfs; the
# host side runs the same static binary, unpacked from there):
# 1. host -> guest: the guest runs an echo server on port 5000; the host says "CONNECT 5000"
#    through PATH, gets "OK <port>", sends 1 MiB and gets the same bytes back (sha256).
# 2. guest -> host: a host echo server listens on PATH_6000; the guest connects to CID 2 port
#    6000, sends 256 KiB and gets them back (sha256); port 6001, where nobody listens, is
#    refused (the guest's connect fails).
# 3. 20 host connections at once to the guest's echo server, 64 KiB each, every one intact.
# 4. Snapshot and restore with a connection open: the snapshotted VMM quits and its host
#    socket ends; the restored VM (same socket path, from the snapshot's options) sends the
#    guest a transport reset, and new connections work both ways, the guest's echo server
#    still listening.
# 5. poweroff: status 0, the socket file is gone, and gureum dropped no packet of the guest.
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] ||
	lab_pass "gureum-only scenario (QEMU's vsock is vhost-vsock, not a Unix socket); skipped for $LAB_VMM"

T=/tmp/vvsock
SOCK=$T/v.sock
API=/run/vm-vsock.sock
SNAP=$T/snap
ctl() { /lab/bin/gureum ctl --json "$API" "$@"; }
# host_echo BYTES NAME: one connection through CONNECT 5000 to the guest's echo server
# (retried while the server is not up yet); fails the scenario unless the bytes come back.
host_echo() {
	head -c "$1" /dev/urandom >"$T/$2.in"
	try=0
	until timeout 180 "$TOOL" connect "$SOCK" 5000 <"$T/$2.in" >"$T/$2.out" 2>"$T/$2.err"; do
		try=$((try + 1))
		[ $try -lt 5 ] || lab_fail "$2: host -> guest: $(cat "$T/$2.err")"
		sleep 1
	done
	[ "$(sha256sum <"$T/$2.in" | cut -c1-64)" = "$(sha256sum <"$T/$2.out" | cut -c1-64)" ] ||
		lab_fail "$2: host -> guest: $1 bytes came back as $(wc -c <"$T/$2.out") bytes with another sha256 ($(cat "$T/$2.err"))"
}
# guest_echo BYTES NAME: the guest connects to CID 2 port 6000 (a host echo server on
# PATH_6000) and gets its bytes back.
guest_echo() {
	"$TOOL" unix-listen "${SOCK}_6000" &
	server=$!
	i=0
	while [ ! -S "${SOCK}_6000" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	gwant=$(guest_sha "head -c $1 /dev/urandom >/tmp/g1 && sha256sum /tmp/g1") ||
		lab_fail "$2: guest -> host: cannot make the payload in the guest"
	ggot=$(guest_sha 'vsock-tool send 2 6000 </tmp/g1 | sha256sum') ||
		lab_fail "$2: guest -> host: vsock-tool send 2 6000 failed"
	[ -n "$gwant" ] && [ "$gwant" = "$ggot" ] ||
		lab_fail "$2: guest -> host: $1 bytes echoed by the host came back with sha256 '$ggot', sent '$gwant'"
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	rm -f "${SOCK}_6000"
}
rm -rf "$T"
mkdir -p "$T/root"
(cd "$T/root" && zcat "$L2_INITRD" | cpio -id 2>/dev/null)
TOOL=$T/root/bin/vsock-tool
[ -x "$TOOL" ] || lab_fail "no bin/vsock-tool in the guest's initramfs (scripts/guest-image.sh)"

vm_boot vvsock "$(gureum_cmd 1 --vsock cid=3,socket=$SOCK --api-socket $API)"
[ -S "$SOCK" ] || lab_fail "gureum does not listen on $SOCK"

dev=$(vm_run 30 'grep -l 0x0013 /sys/bus/virtio/devices/*/device') ||
	lab_fail "no virtio device with ID 0x0013 (vsock) in the guest"
dev=${dev%/device}
drv=$(vm_run 30 "readlink $dev/driver") || lab_fail "no driver bound to $dev"
case "$drv" in
*/vmw_vsock_virtio_transport) ;;
*) lab_fail "$dev is bound to '$drv', not vmw_vsock_virtio_transport" ;;
esac

# 1. host -> guest.
vm_send 'vsock-tool listen 5000 &'
vm_run 10 'sleep 1' >/dev/null
host_echo 1048576 first

# 2. guest -> host.
guest_echo 262144 first
refused=$(vm_run 60 'vsock-tool send 2 6001 </dev/null; echo status=$?')
echo "$refused" | grep -q 'status=1' ||
	lab_fail "guest -> host: a connection to port 6001 (no listener) was not refused: $refused"

# 3. 20 host connections at once.
pids=
for i in $(seq 1 20); do
	head -c 65536 /dev/urandom >"$T/p.$i"
	(
		timeout 240 "$TOOL" connect "$SOCK" 5000 <"$T/p.$i" >"$T/o.$i" 2>"$T/e.$i"
		echo $? >"$T/s.$i"
	) &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
for i in $(seq 1 20); do
	[ "$(cat "$T/s.$i")" = 0 ] || lab_fail "connection $i of 20 failed: $(cat "$T/e.$i")"
	[ "$(sha256sum <"$T/p.$i" | cut -c1-64)" = "$(sha256sum <"$T/o.$i" | cut -c1-64)" ] ||
		lab_fail "connection $i of 20: 64 KiB came back as $(wc -c <"$T/o.$i") bytes with another sha256"
done

# 4. Snapshot and restore, with a connection open (its stdin a FIFO that never ends).
mkfifo "$T/hold"
exec 4<>"$T/hold"
"$TOOL" connect "$SOCK" 5000 <"$T/hold" >"$T/held.out" 2>"$T/held.err" &
held=$!
sleep 1
kill -0 "$held" 2>/dev/null || lab_fail "the held connection ended at once: $(cat "$T/held.err")"
out=$(ctl snapshot "$SNAP" --stay-paused) || lab_fail "snapshot failed: $out"
ctl quit >/dev/null || lab_fail "quit after the snapshot was refused"
[ "$(vm_wait_exit 60)" = 0 ] || lab_fail "the snapshotted VMM did not exit cleanly"
vm_kill
i=0
while kill -0 "$held" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -0 "$held" 2>/dev/null && lab_fail "the host connection stayed open after its VMM exited"
exec 4>&-
[ ! -e "$SOCK" ] || lab_fail "$SOCK is still there after the snapshotted VMM exited"
vm_restore vvsock-r "$SNAP" $API
[ -S "$SOCK" ] || lab_fail "the restored VM does not listen on $SOCK"
vm_run 60 true >/dev/null || lab_fail "the restored guest's shell does not answer"
host_echo 65536 restored
guest_echo 65536 restored

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
[ ! -e "$SOCK" ] || lab_fail "$SOCK is still there after gureum exited"
complaints=$(cat /run/vm/vvsock/stderr "$VM/stderr" | grep 'virtio-vsock0' | head -n 3)
[ -z "$complaints" ] || lab_fail "gureum complained about the guest's packets: $complaints"
lab_pass "vsock driver bound ($dev), 1 MiB host->guest echo via CONNECT, 256 KiB guest->host echo via ${SOCK##*/}_6000, port without listener refused, 20 concurrent connections x 64 KiB intact; after a snapshot and restore (an open connection ended with its VMM) both directions work again"
