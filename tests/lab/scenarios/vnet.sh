# virtio-net on a tap in L1: the VMM creates tap0 (10.0.2.1/24 on L1's side), the guest's eth0
# is 10.0.2.2. Pings both ways, then 8 MiB of random data over TCP (busybox nc) each way with
# sha256 compared, in userspace (vhost=off). The scenario vhost runs the same checks with
# vhost-net (vhost=on), and once more with vhost and INTx (pci=nomsi: interrupts forwarded by
# gureum). Two scenarios, not one: each L1 run is shorter, and an L1 that froze under TCG (see
# tests/lab/README.md) is retried for less.
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum

TAP=tap0
HOST_IP=10.0.2.1
GUEST_IP=10.0.2.2
SIZE_MB=8
VNET_MODES=${VNET_MODES:-userspace}
DETAIL=

# net_cmd VHOST: the VMM with one NIC on $TAP (QEMU: virtio-net on microvm's virtio-mmio).
net_cmd() {
	if [ "${LAB_VMM:-gureum}" = qemu ]; then
		echo "$(qemu_cmd 1) -netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=$1" \
			"-device virtio-net-device,netdev=n0"
	else
		gureum_cmd 1 --net "tap=$TAP,vhost=$1"
	fi
}

# wait_for CONDITION SECONDS: polls a shell condition every 0.2 s.
wait_for() {
	limit=$(($(date +%s) + $2))
	until eval "$1"; do
		[ "$(date +%s)" -ge "$limit" ] && return 1
		vm_exited && return 1
		sleep 0.2
	done
}

# L1 sends SIZE_MB of random data to a listener in the guest.
host_to_guest() {
	mode=$1
	dd if=/dev/urandom of=/tmp/to-guest bs=1M count=$SIZE_MB 2>/dev/null
	vm_send "rm -f /tmp/in; mkfifo /tmp/hold 2>/dev/null; nc -l -p 5001 <>/tmp/hold >/tmp/in; echo SHA-R \$(sha256sum </tmp/in)"
	start=$(date +%s)
	tries=0
	until nc $GUEST_IP 5001 </tmp/to-guest 2>/dev/null; do
		tries=$((tries + 1))
		[ $tries -lt 60 ] || lab_fail "$mode: cannot connect to the guest's nc on $GUEST_IP:5001"
		sleep 1
	done
	wait_console "^SHA-R [0-9a-f]{64}" 1 300 || lab_fail "$mode: the guest did not report what it received"
	got=$(console_hash SHA-R)
	sent=$(file_hash /tmp/to-guest)
	[ "$sent" = "$got" ] || lab_fail "$mode: L1 -> guest: sha256 differs (L1 $sent, guest $got)"
	DETAIL="$DETAIL L1->guest ${SIZE_MB}MiB in $(($(date +%s) - start))s;"
}

# The guest's driver negotiated checksum offload both ways, TSO both ways and mergeable receive
# buffers (virtio-net feature bits 0, 1, 7, 11, 15): the transfers below then use them.
check_offloads() {
	vm_send "echo FEAT-\$((40+2)) \$(cat /sys/bus/virtio/drivers/virtio_net/virtio*/features)"
	wait_console "^FEAT-42 [01]+" 1 30 || lab_fail "$1: cannot read the guest's virtio-net features"
	feat=$(tr -d '\r' <"$VM/console" | grep -a -E "^FEAT-42 [01]+" | tail -n 1 | cut -d' ' -f2)
	for bit in 0 1 7 11 15; do
		[ "$(echo "$feat" | cut -c$((bit + 1)))" = 1 ] ||
			lab_fail "$1: virtio-net feature bit $bit not negotiated (guest features $feat)"
	done
}

# vhost=on: the kernel's worker for the VMM ("vhost-PID") exists, so vhost moved the packets.
check_vhost_worker() {
	vmm=gureum
	[ "${LAB_VMM:-gureum}" = qemu ] && vmm=qemu-system-x86_64
	pid=$(pidof $vmm)
	cat /proc/[0-9]*/comm /proc/[0-9]*/task/[0-9]*/comm 2>/dev/null | grep -q "^vhost-$pid" ||
		lab_fail "vhost=on, but there is no vhost-$pid worker thread in L1"
	DETAIL="$DETAIL vhost-$pid worker present;"
}

# The driver resets the device and starts it again on new rings: the network works after.
check_driver_reload() {
	vm_send "rmmod virtio_net && insmod /lib/modules/kernel/drivers/net/virtio_net.ko && ip addr add $GUEST_IP/24 dev eth0 && ip link set eth0 up && ping -c 2 $HOST_IP && echo RELOAD-OK-\$((40+2))"
	wait_console "RELOAD-OK-42" 1 90 || lab_fail "$1: no network after the guest reloaded virtio_net"
	DETAIL="$DETAIL driver reloaded and pinged;"
}

# The guest uses INTx, not MSI-X, for its virtio devices (pci=nomsi).
check_intx() {
	vm_send "echo VIRTIO-MSI-\$((40+2)) \$(grep virtio /proc/interrupts | grep -c MSI)"
	wait_console "^VIRTIO-MSI-42 [0-9]+" 1 30 || lab_fail "$1: cannot read /proc/interrupts"
	tr -d '\r' <"$VM/console" | grep -a -q -E "^VIRTIO-MSI-42 0$" ||
		lab_fail "$1: the guest still uses MSI for virtio with pci=nomsi"
}

# check_network VHOST LABEL: one VM, one NIC with vhost=VHOST, all the checks.
check_network() {
	vhost=$1
	mode=$2
	# The tap of the previous run disappears with its VMM (the VMM created it, not persistent).
	wait_for "[ ! -e /sys/class/net/$TAP ]" 10 || lab_fail "$TAP still exists before the $mode run"
	vm_start "vnet-$mode" "$(net_cmd "$vhost")"
	wait_for "[ -e /sys/class/net/$TAP ]" 30 ||
		lab_fail "$mode: the VMM did not create $TAP (exit status: $(cat "$VM/status" 2>/dev/null || echo still running))"
	ip addr add $HOST_IP/24 dev $TAP && ip link set $TAP up || lab_fail "$mode: cannot configure $TAP in L1"
	wait_console "$READY_MARKER" 1 180 || lab_fail "$mode: no '$READY_MARKER' on the console"

	vm_send "ip addr add $GUEST_IP/24 dev eth0 && ip link set eth0 up && echo NET-UP-\$((40+2))"
	wait_console "NET-UP-42" 1 60 || lab_fail "$mode: eth0 did not come up in the guest"
	check_offloads "$mode"
	case $mode in *intx) check_intx "$mode" ;; esac
	vm_send "ping -c 3 $HOST_IP && echo PING-OK-\$((40+2))"
	wait_console "PING-OK-42" 1 90 || lab_fail "$mode: the guest cannot ping L1 ($HOST_IP)"
	ping -c 3 -W 10 $GUEST_IP >/tmp/ping.out 2>&1 ||
		lab_fail "$mode: L1 cannot ping the guest: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"
	DETAIL="$DETAIL vhost=$mode: pings both ways,"

	guest_sends_to_l1 "$mode" $HOST_IP $SIZE_MB 400
	host_to_guest "$mode"
	[ "$vhost" = on ] && check_vhost_worker
	check_driver_reload "$mode"

	vm_send 'poweroff -f'
	status=$(vm_wait_exit 60)
	[ "$status" = 0 ] || lab_fail "$mode: exit status $status after 'poweroff -f' (expected 0)"
	# Real Linux frames must pass the device's checks: no drop or failure was logged.
	bad=$(grep -E "dropping a frame|device stops|writing to|reading from" "$VM/stderr" | head -n 1)
	[ -z "$bad" ] || lab_fail "$mode: the VMM complained: $bad"
	vm_kill
}

rm -f /tmp/hold
mkfifo /tmp/hold
if [ "$VNET_MODES" = userspace ]; then
	check_network off off
elif [ -c /dev/vhost-net ]; then
	check_network on on
	if [ "${LAB_VMM:-gureum}" = gureum ]; then
		# Without MSI-X the transport has no irqfd to give vhost: the kernel's interrupts
		# then go through the call eventfd that gureum's device thread forwards (INTx).
		L2_CMDLINE="$L2_CMDLINE pci=nomsi"
		check_network on on-intx
	fi
else
	lab_fail "no /dev/vhost-net in L1: vhost=on cannot be tested"
fi
lab_pass "$LAB_VMM:$DETAIL"
