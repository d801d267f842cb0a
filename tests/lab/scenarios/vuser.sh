# --net user: virtio-net on the user-mode network (libslirp), with no tap, no root and nothing
# set up in L1. The guest's udhcpc gets 10.0.2.15/24 with router 10.0.2.2 and DNS 10.0.2.3
# from the VMM's DHCP server, and an IPv6 address in fec0::/64 from its router advertisement
# (the gateway fec0::2 answers ping); 8 MiB of random data go from the guest to a listener in L1
# through the NAT (10.0.2.2 is L1's loopback) and 8 MiB from L1 to a listener in the guest
# through a port forward (hostfwd=tcp:127.0.0.1:15555-:5001), sha256 compared both ways; a
# guest port nobody listens on refuses L1's connection; no tap appeared in L1. Then the guest
# reloads its driver (device reset) and fetches once more. With gureum, `gureum ctl SOCK
# net-link 0 down` takes the guest's carrier down and `up` brings it back.
# lab-smp: 1
# lab-timeout: 400
. /lab/lib.sh
require_gureum

SIZE_MB=8
FORWARD_PORT=15555
DETAIL=

SOCK=/tmp/vuser.sock
api=
[ "$(lab_vmm)" = gureum ] && api="--api-socket $SOCK"
taps_before=$(ls /sys/class/net | tr '\n' ' ')
vm_boot vuser "$(virtio_vmm_cmd 1 $(vm_user_net_opts "" hostfwd=tcp:127.0.0.1:$FORWARD_PORT-:5001) $api)"

# DHCP: the lease the udhcpc script prints, and the address and route it configured.
lease=$(vm_run 90 "ip link set eth0 up; udhcpc -i eth0 -q -n -t 10 2>&1 | grep 'has'") ||
	lab_fail "the guest got no DHCP lease: $lease"
case "$lease" in
*"eth0 has 10.0.2.15/24, router 10.0.2.2, dns 10.0.2.3"*) ;;
*) lab_fail "unexpected lease: $lease" ;;
esac
route=$(vm_run 30 "ip route | grep default") || lab_fail "no default route after DHCP"
case "$route" in *"via 10.0.2.2"*) ;; *) lab_fail "default route is '$route'" ;; esac
DETAIL="$DETAIL DHCP lease 10.0.2.15/24 via 10.0.2.2;"


# The operator pulls the card's cable and plugs it back: the guest's carrier follows.
if [ "$(lab_vmm)" = gureum ]; then
	/lab/bin/gureum ctl $SOCK net-link 0 down >/dev/null || lab_fail "net-link 0 down failed"
	carrier=$(vm_run 30 "sleep 1; cat /sys/class/net/eth0/carrier")
	[ "$carrier" = 0 ] || lab_fail "after net-link down the guest's carrier is '$carrier'"
	/lab/bin/gureum ctl $SOCK net-link 0 up >/dev/null || lab_fail "net-link 0 up failed"
	carrier=$(vm_run 30 "sleep 1; cat /sys/class/net/eth0/carrier")
	[ "$carrier" = 1 ] || lab_fail "after net-link up the guest's carrier is '$carrier'"
	DETAIL="$DETAIL carrier down and up by net-link;"
fi

# Guest -> L1 through the NAT: the guest connects to 10.0.2.2:5000, the VMM to L1's 127.0.0.1.
guest_sends_to_l1 "user network" 10.0.2.2 $SIZE_MB 300

# L1 -> guest through the forward. The VMM accepts L1's connection before it reaches the
# guest, so the guest's listener must be up first (a connection it refuses is closed).
dd if=/dev/urandom of=/tmp/to-guest bs=1M count=$SIZE_MB 2>/dev/null
vm_send "rm -f /tmp/in /tmp/hold; mkfifo /tmp/hold; nc -l -p 5001 <>/tmp/hold >/tmp/in; echo SHA-R \$(sha256sum </tmp/in)"
sleep 3
start=$(date +%s)
nc 127.0.0.1 $FORWARD_PORT </tmp/to-guest || lab_fail "cannot connect to the forward on 127.0.0.1:$FORWARD_PORT"
wait_console "^SHA-R [0-9a-f]{64}" 1 300 || lab_fail "the guest did not report what it received"
got=$(console_hash SHA-R)
sent=$(file_hash /tmp/to-guest)
[ "$sent" = "$got" ] || lab_fail "L1 -> guest: sha256 differs (L1 $sent, guest $got)"
DETAIL="$DETAIL L1->guest ${SIZE_MB}MiB in $(($(date +%s) - start))s via hostfwd;"

# IPv6: the router advertisement of fec0::/64 gives the guest an address (libslirp sends
# them every few seconds: up to 30 s), and the gateway fec0::2 answers pings.
v6=$(vm_run 60 "i=0; while [ \$i -lt 30 ]; do i=\$((i+1)); ip -6 addr show dev eth0 | grep -q 'inet6 fec0::' && break; sleep 1; done; ip -6 addr show dev eth0 | grep -o 'fec0::[0-9a-f:]*'") ||
	lab_fail "no fec0::/64 address from the router advertisement: $v6"
vm_run 60 "ping -6 -c 2 -W 5 fec0::2 >/dev/null 2>&1" >/dev/null || lab_fail "the guest ($v6) cannot ping fec0::2"
DETAIL="$DETAIL IPv6 by RA ($v6), ping6 to the gateway;"

# Nothing listens on the guest's port 5001 now: the forward's connection ends with no data.
reply=$(echo hello | timeout 20 nc 127.0.0.1 $FORWARD_PORT 2>&1)
[ -z "$reply" ] || lab_fail "a forward to a closed guest port answered: $reply"

# No tap: the user network needs nothing in L1's network configuration.
taps_now=$(ls /sys/class/net | tr '\n' ' ')
[ "$taps_now" = "$taps_before" ] || lab_fail "L1's interfaces changed: '$taps_before' -> '$taps_now'"

# The driver resets the device and starts it again: the network still works.
rm -f /tmp/from-guest
nc -l -p 5002 <>/tmp/hold >/tmp/from-guest &
server=$!
out=$(vm_run 120 "rmmod virtio_net && insmod /lib/modules/kernel/drivers/net/virtio_net.ko && ip link set eth0 up && udhcpc -i eth0 -q -n -t 10 >/dev/null 2>&1 && echo again | nc 10.0.2.2 5002") ||
	{
		kill $server 2>/dev/null
		lab_fail "no network after the guest reloaded virtio_net: $out"
	}
wait $server
[ "$(cat /tmp/from-guest)" = again ] || lab_fail "after the reload L1 got '$(cat /tmp/from-guest)'"
DETAIL="$DETAIL driver reloaded, DHCP and TCP again;"

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
bad=$(grep -E "dropping a frame|device stops|writing to|reading from|the guest sent" "$VM/stderr" | head -n 1)
[ -z "$bad" ] || lab_fail "the VMM complained: $bad"
lab_pass "$(lab_vmm):$DETAIL"
