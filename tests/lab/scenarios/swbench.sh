# VM-to-VM benchmark on a switch (run by bench/switch.sh; not in the default list): two guests
# (1 vCPU, 256M) on one VLAN of a gureum switch (`gureum net create`, --net switch=...,vlan=10,
# vhost-net, with its anti-spoofing rules), then two QEMU microvm guests with vhost-net on
# taps in a plain Linux bridge (QEMU has no switch of its own: the same kernel bridge without
# VLAN filtering or nftables rules). NET_MB MiB from one guest to the other over TCP (timed on
# the sender's clock) and ping round trips. Prints "VBENCH <vmm> <metric> <value>" lines.
# lab-smp: 2
# lab-timeout: 900
. /lab/lib.sh
require_gureum

NET_MB=8
PINGS=20

bench_line() {
	echo "VBENCH $*"
}

on() { vm_use "$(eval echo "\$VM_$1")"; }

boot() { # NAME COMMAND
	vm_boot "$1" "$2"
	eval "VM_$1=\$VM"
}

# measure VMM: b listens, a sends; then a pings b.
measure() {
	vmm=$1
	on b
	vm_send "(sleep 600 | nc -l -p 5000 >/dev/null) &"
	sleep 1
	on a
	vm_run 20 't() { a=$(cut -d" " -f1 /proc/uptime); "$@"; r=$?; b=$(cut -d" " -f1 /proc/uptime); echo "T $a $b"; return $r; }' >/dev/null
	out=$(vm_run 300 "t sh -c 'dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null | nc 10.0.0.2 5000'") ||
		lab_fail "$vmm: a -> b over TCP failed: $out"
	secs=$(echo "$out" | awk '$1 == "T" { printf "%.2f\n", $3 - $2 }')
	bench_line "$vmm vm_to_vm_mbs $(awk -v mb="$NET_MB" -v s="$secs" 'BEGIN { printf "%.2f\n", (s > 0 ? mb / s : 0) }')"
	out=$(vm_run 120 "ping -c $PINGS -i 0.2 10.0.0.2 | tail -n 1") || lab_fail "$vmm: ping failed: $out"
	avg=$(echo "$out" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
	bench_line "$vmm vm_to_vm_ping_rtt_us $(awk -v ms="$avg" 'BEGIN { printf "%.0f\n", ms * 1000 }')"
	for v in a b; do
		on $v
		status=$(vm_poweroff 60)
		[ "$status" = 0 ] || lab_fail "$vmm: $v exit status $status"
	done
}

address() { # NAME ADDR
	on "$1"
	vm_run 30 "ip addr add $2/24 dev eth0 && ip link set eth0 up" >/dev/null || lab_fail "$1: eth0"
}

G=/lab/bin/gureum
$G net create swb || lab_fail "gureum net create swb failed"
boot a "$(gureum_cmd 1 --net switch=swb,vlan=10,mac=52:54:00:00:00:0a,vhost=on)"
boot b "$(gureum_cmd 1 --net switch=swb,vlan=10,mac=52:54:00:00:00:0b,vhost=on)"
address a 10.0.0.1
address b 10.0.0.2
measure gureum
$G net delete swb

ip link add swq type bridge || lab_fail "cannot make a bridge for QEMU"
ip link set swq up
for t in qa qb; do
	tunctl -t $t >/dev/null || lab_fail "tunctl $t"
	ip link set $t master swq && ip link set $t up || lab_fail "cannot put $t in the bridge"
done
qemu_net() { # TAP MAC
	echo "-netdev tap,id=n0,ifname=$1,script=no,downscript=no,vhost=on" \
		"-device virtio-net-pci,netdev=n0,mac=$2,romfile="
}
boot a "$(qemu_virtio_cmd 1 "$(qemu_net qa 52:54:00:00:00:0a)")"
boot b "$(qemu_virtio_cmd 1 "$(qemu_net qb 52:54:00:00:00:0b)")"
address a 10.0.0.1
address b 10.0.0.2
measure qemu
lab_pass "measured: gureum qemu"
