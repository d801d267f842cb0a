# Migration of a VM with a network card while TCP streams run through it both ways: the guest
# (10.0.2.2) sends 16 MiB to L1 (10.0.2.1, on bridge br0) in slow pieces while L1 sends it
# 16 MiB, and in the middle of them the VM moves to a second gureum process whose card is on
# another tap of the same bridge (`gureum run --incoming URI --net tap=tapb`: the card keeps
# its MAC). Both streams must arrive whole (sha256 compared): L1's packets reach the guest only
# once the bridge has learnt its MAC on the new tap (from the RARP frames the destination
# announces, or the guest's next frame), and the bridge's table must say so. The stream into
# the guest is written into guest RAM by the card while the RAM is copied: under KVM the VM
# moves with pre-copy (a vhost-net card moves its packets in userspace meanwhile), and a page
# the card wrote that the migration did not resend would corrupt the received data.
# Under KVM: with the card in userspace and with vhost-net, then vhost-net again in post-copy
# (its kernel worker waits for the guest pages it touches). On the software CPU (no
# vhost-net on this host): the userspace card paused, then in post-copy.
# L1 with one vCPU: with two (which QEMU's TCG runs in parallel), the L2 guest triple-faulted
# under this two-way stream in 4 of 5 runs on an AMD family 19h host, before or after the move,
# with gureum of stop 22 as with this one; with one vCPU, in none.
# lab-smp: 1
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (migration); skipped for $LAB_VMM"

BR=br0
HOST_IP=10.0.2.1
GUEST_IP=10.0.2.2
PIECES=16 # of 1 MiB, 0.1 s apart (each costs a dd and a sleep: seconds in nested L2)
S1=/run/vmn-src.sock S2=/run/vmn-dst.sock
DETAIL=

brctl addbr $BR && ip addr add $HOST_IP/24 dev $BR && ip link set $BR up ||
	lab_fail "cannot make the bridge $BR in L1"

# bridge_tap TAP: waits (in the background) for the VMM to create TAP and puts it on the bridge.
bridge_tap() {
	(
		limit=$(($(date +%s) + 60))
		until [ -e "/sys/class/net/$1" ] || [ "$(date +%s)" -ge "$limit" ]; do sleep 0.05; done
		brctl addif $BR "$1" && ip link set "$1" up
	) &
}

# fdb_entries: the bridge's forwarding table, "MAC PORT" per line (busybox's brctl has no
# showmacs; the kernel's binary table has 16 bytes per entry: MAC, port, is_local, ...).
fdb_entries() {
	od -An -tx1 -v -w16 /sys/class/net/$BR/brforward |
		awk '{print $1":"$2":"$3":"$4":"$5":"$6, $7}'
}

# learnt_port MAC: the port (two hex digits) the bridge sends MAC's frames to.
learnt_port() {
	fdb_entries | awk -v mac="$1" '$1 == mac {print $2}' | head -n 1
}

# move_during_stream VHOST [postcopy]: boots a VM on tapa, starts the stream, moves the VM to
# tapb (in post-copy at once when asked: the card and vhost's kernel worker then wait for the
# guest pages they touch).
move_during_stream() {
	vhost=$1
	how=${2:-}
	mig_opts=
	[ "$how" = postcopy ] && mig_opts="--postcopy-after 0 --max-bandwidth 32M"
	bridge_tap tapa
	vm_boot "vmn-$vhost" "$(gureum_cmd 1 --net "tap=tapa,vhost=$vhost" --api-socket $S1)"
	vm_send "ip addr add $GUEST_IP/24 dev eth0 && ip link set eth0 up && ping -c 1 -W 5 $HOST_IP >/dev/null && echo NET-UP-\$((40+2))"
	wait_console "NET-UP-42" 1 60 || lab_fail "vhost=$vhost: the guest cannot reach L1 over $BR"
	rm -f /tmp/stream /tmp/hold
	mkfifo /tmp/hold
	nc -l -p 5000 <>/tmp/hold >/tmp/stream &
	server=$!
	vm_send "dd if=/dev/urandom of=/tmp/data bs=1M count=$PIECES 2>/dev/null; echo SHA-G \$(sha256sum </tmp/data)"
	wait_console "^SHA-G [0-9a-f]{64}" 1 60 || lab_fail "vhost=$vhost: the guest did not hash its data"
	sent=$(console_hash SHA-G)
	# In the background: the shell takes the next command (the stream into the guest).
	vm_send "(i=0; while [ \$i -lt $PIECES ]; do dd if=/tmp/data bs=1M skip=\$i count=1 2>/dev/null; i=\$((i+1)); sleep 0.1; done | nc $HOST_IP 5000 && echo SENT-\$((40+2))) &"
	limit=$(($(date +%s) + 30))
	until [ "$(wc -c </tmp/stream)" -ge $((1 << 19)) ]; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "vhost=$vhost: the stream does not flow ($(wc -c </tmp/stream) bytes)"
		sleep 0.1
	done
	before=$(wc -c </tmp/stream)
	# L1 to the guest, slowly enough to be under way during the move: L1 listens (busybox nc
	# sends once a client is there), the guest connects with a stdin that never ends (a
	# half-closed connection would end L1's nc early).
	dd if=/dev/urandom of=/tmp/down bs=1M count=$PIECES 2>/dev/null
	down_sha=$(sha256sum </tmp/down | cut -d' ' -f1)
	rm -f /tmp/down-progress
	(i=0; while [ $i -lt $PIECES ]; do dd if=/tmp/down bs=1M skip=$i count=1 2>/dev/null; i=$((i+1)); echo $i >/tmp/down-progress; sleep 0.2; done) | nc -l -p 5001 >/dev/null &
	vm_send "(mkfifo /tmp/h; nc $HOST_IP 5001 <>/tmp/h >/tmp/recv; echo SHA-R \$(sha256sum </tmp/recv)) &"
	limit=$(($(date +%s) + 30))
	until [ "$(cat /tmp/down-progress 2>/dev/null || echo 0)" -ge 2 ]; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "vhost=$vhost: the stream into the guest does not flow"
		sleep 0.1
	done
	src=$VM
	bridge_tap tapb
	vm_start "vmn-$vhost-dst" "/lab/bin/gureum run --incoming unix:/run/vmn.sock --console stdio --api-socket $S2 --net tap=tapb,vhost=$vhost"
	dst=$VM
	until grep -q 'waiting for a migration' "$dst/stderr"; do
		vm_exited && lab_fail "vhost=$vhost: the destination exited: $(cat "$dst/stderr")"
		sleep 0.1
	done
	vm_use "$src"
	out=$(/lab/bin/gureum ctl --json $S1 migrate unix:/run/vmn.sock $mig_opts) ||
		lab_fail "vhost=$vhost: the migration failed: $out; the destination's exit status: $(cat "$dst/status" 2>/dev/null || echo none, still running), its log: $(tail -n 8 "$dst/stderr" | tr '\n' ' '); L1's kernel: $(dmesg | tail -n 6 | tr '\n' ' ')"
	vm_use "$dst"
	wait_console "SENT-42" 1 300 || lab_fail "vhost=$vhost: the guest's stream did not end after the move ($(wc -c </tmp/stream) bytes arrived, $before before it; the migration: $out; the source said: $(tail -n 5 "$src/stderr" | tr '\n' ' '); the guest answers: $(vm_run 20 'echo alive; cat /proc/net/dev | grep eth0' | tr '\n' ' ')"
	wait $server
	got=$(sha256sum </tmp/stream | cut -d' ' -f1)
	[ "$got" = "$sent" ] || lab_fail "vhost=$vhost: the stream differs after the move ($(wc -c </tmp/stream) bytes, sha256 $got, sent $sent)"
	wait_console "^SHA-R [0-9a-f]{64}" 1 120 || lab_fail "vhost=$vhost: the stream into the guest did not end after the move (L1 sent $(cat /tmp/down-progress) MiB; the migration: $out)"
	got=$(console_hash SHA-R)
	[ "$got" = "$down_sha" ] || lab_fail "vhost=$vhost: the guest received other data than L1 sent across the move (sha256 $got, sent $down_sha)"
	precopy=$(echo "$out" | sed -n 's/.*"precopy":\([a-z]*\).*/\1/p')
	rounds=$(echo "$out" | sed -n 's/.*"rounds":\([0-9]*\).*/\1/p')
	if [ "$how" = postcopy ]; then
		echo "$out" | grep -q '"postcopy":true' || lab_fail "vhost=$vhost: the move was not a post-copy: $out"
		precopy="post-copy, $(echo "$out" | sed -n 's/.*"postcopy_requested":\([0-9]*\).*/\1/p') pages asked for,"
	else
		[ "${LAB_DIRECT:-0}" = 1 ] || [ "$precopy" = true ] || lab_fail "vhost=$vhost: the VM with a NIC was not pre-copied under KVM: $out"
		precopy="precopy $precopy in $rounds rounds,"
	fi
	mac=$(echo "$(vm_run 10 'cat /sys/class/net/eth0/address')" | grep -o -E '([0-9a-f]{2}:){5}[0-9a-f]{2}' | head -n 1)
	port=$(printf '%02x' $(($(cat /sys/class/net/tapb/brport/port_no))))
	[ "$(learnt_port "$mac")" = "$port" ] ||
		lab_fail "vhost=$vhost: the bridge has not learnt $mac on tapb (port $port): $(fdb_entries | tr '\n' ' ')"
	down=$(echo "$out" | sed -n 's/.*"downtime_ms":\([0-9]*\).*/\1/p')
	DETAIL="$DETAIL vhost=$vhost: 16 MiB each way intact across the move ($before bytes out before it), $precopy paused ${down} ms;"
	/lab/bin/gureum ctl $S2 quit >/dev/null
	vm_wait_exit 60 >/dev/null
	vm_kill
	wait_tap_gone tapa
	wait_tap_gone tapb
}

wait_tap_gone() {
	limit=$(($(date +%s) + 20))
	while [ -e "/sys/class/net/$1" ]; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "$1 still exists after its VMM ended"
		sleep 0.2
	done
}

move_during_stream off
if [ "${LAB_DIRECT:-0}" = 1 ]; then
	move_during_stream off postcopy
else
	move_during_stream on
	move_during_stream on postcopy
fi
lab_pass "$DETAIL"
