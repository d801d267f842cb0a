# virtio-net multiqueue: a 2-vCPU guest with --net tap=tap0,queues=2 (the VMM makes tap0 a
# multi-queue tap). The guest's driver takes both queue pairs (its eth0 has rx-0, rx-1, tx-0,
# tx-1, and net-info says 2 in use); pings sent from each vCPU (taskset) leave on that vCPU's
# transmit queue, and 32 TCP connection attempts from L1 (one flow each) arrive on both receive
# queues. Counted twice: by gureum per pair (net-info, userspace path) and by the guest's
# per-queue interrupts (/proc/interrupts: virtioN-input.0/.1, output.0/.1). Then 8 MiB from
# the guest to L1 with sha256. Userspace first (vhost=off), then vhost-net (not on the software
# CPU, which must see every device write): there gureum counts nothing, the interrupts show it,
# and net-limit refuses limits (vhost-net would move frames past them).
# lab-smp: 2
# lab-timeout: 600
. /lab/lib.sh
require_gureum

TAP=tap0
HOST_IP=10.0.2.1
GUEST_IP=10.0.2.2
SOCK=/run/mq.sock
G=/lab/bin/gureum
DETAIL=

# queue_interrupts KIND: the guest's interrupt count of each virtio-net queue of KIND (input
# or output), e.g. "input.0=12 input.1=30".
queue_interrupts() {
	vm_run 30 "grep -E 'virtio[0-9]+-$1\.[0-9]' /proc/interrupts" |
		awk '{ n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i;
		       q = $NF; sub(/^virtio[0-9]+-/, "", q); printf "%s=%d ", q, n }'
}

# both_used WHAT COUNTS: fails unless both queues of "a=N b=M" counted something.
both_used() {
	set -- "$1" $2
	what=$1
	shift
	[ $# -eq 2 ] || lab_fail "$what: expected two queues, got '$*'"
	for q in "$@"; do
		[ "${q#*=}" -gt 0 ] || lab_fail "$what: a queue stayed unused ($*)"
	done
}

# pair_counts FIELD: gureum's per-pair counts ("received per pair:" or "sent per pair:").
pair_counts() {
	$G ctl $SOCK net-info 0 | sed -n "s/^$1 per pair://p" | awk '{ printf "pair0=%s pair1=%s", $1, $2 }'
}

check_multiqueue() {
	vhost=$1
	# The tap of the previous run goes with its VMM (not persistent).
	limit=$(($(date +%s) + 10))
	while [ -e /sys/class/net/$TAP ]; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "$TAP still exists before the vhost=$vhost run"
		sleep 0.2
	done
	vm_start "vmq-$vhost" "$(gureum_cmd 2 --net "tap=$TAP,vhost=$vhost,queues=2" --api-socket $SOCK)"
	limit=$(($(date +%s) + 30))
	until [ -e /sys/class/net/$TAP ]; do
		[ "$(date +%s)" -lt "$limit" ] && ! vm_exited ||
			lab_fail "vhost=$vhost: the VMM did not create $TAP: $(cat "$VM/stderr")"
		sleep 0.2
	done
	ip addr add $HOST_IP/24 dev $TAP && ip link set $TAP up || lab_fail "cannot configure $TAP in L1"
	wait_console "$READY_MARKER" 1 180 || lab_fail "vhost=$vhost: no '$READY_MARKER' on the console"
	vm_run 60 "ip addr add $GUEST_IP/24 dev eth0 && ip link set eth0 up" >/dev/null ||
		lab_fail "vhost=$vhost: eth0 did not come up"

	queues=$(vm_run 30 "cd /sys/class/net/eth0/queues && echo *; cd /")
	[ "$queues" = "rx-0 rx-1 tx-0 tx-1" ] || lab_fail "vhost=$vhost: the guest's eth0 has queues '$queues'"
	$G ctl $SOCK net-info 0 | grep -q "^queue pairs 2, 2 in use" ||
		lab_fail "vhost=$vhost: net-info: $($G ctl $SOCK net-info 0)"

	if [ "$vhost" = on ]; then
		# vhost-net's kernel worker would move frames past any limit: net-limit says so and
		# changes nothing.
		out=$($G ctl $SOCK net-limit 0 rx-bps=1M 2>&1) &&
			lab_fail "vhost=on: net-limit rx-bps=1M was accepted: $out"
		echo "$out" | grep -q "vhost-net" || lab_fail "vhost=on: net-limit's refusal: $out"
		$G ctl $SOCK net-limit 0 | grep -q "^rx bps  no limit" ||
			lab_fail "vhost=on: limits after the refusal: $($G ctl $SOCK net-limit 0)"
		DETAIL="$DETAIL net-limit refused on vhost-net;"
	fi
	out=$(vm_run 60 "taskset -c 0 ping -c 3 -i 0.2 $HOST_IP && taskset -c 1 ping -c 3 -i 0.2 $HOST_IP") ||
		lab_fail "vhost=$vhost: pings from each vCPU: $out"
	for _ in $(seq 32); do
		nc -w 1 $GUEST_IP 7777 </dev/null >/dev/null 2>&1
	done
	sent=$(queue_interrupts output)
	received=$(queue_interrupts input)
	both_used "vhost=$vhost: the guest's transmit queues (interrupts)" "$sent"
	both_used "vhost=$vhost: the guest's receive queues (interrupts)" "$received"
	DETAIL="$DETAIL vhost=$vhost: interrupts $sent$received"
	if [ "$vhost" = off ]; then
		both_used "vhost=off: frames gureum sent to the tap" "$(pair_counts sent)"
		both_used "vhost=off: frames gureum received from the tap" "$(pair_counts received)"
		DETAIL="$DETAIL gureum sent $(pair_counts sent), received $(pair_counts received);"
	fi
	guest_sends_to_l1 "vhost=$vhost" $HOST_IP 8 300

	status=$(vm_poweroff 60)
	[ "$status" = 0 ] || lab_fail "vhost=$vhost: exit status $status after poweroff -f"
	bad=$(grep -E "dropping a frame|device stops|writing to|reading from|refused|queue [0-9]" "$VM/stderr" | head -n 1)
	[ -z "$bad" ] || lab_fail "vhost=$vhost: the VMM complained: $bad"
}

check_multiqueue off
if [ "${LAB_DIRECT:-0}" != 1 ]; then
	[ -c /dev/vhost-net ] || lab_fail "no /dev/vhost-net in L1: vhost=on cannot be tested"
	check_multiqueue on
fi
lab_pass "gureum:$DETAIL"
