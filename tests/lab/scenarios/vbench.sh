# Virtio benchmark (run by bench/virtio.sh; not in the default list). The same guest (1 vCPU,
# same kernel, initramfs, memory) under gureum and under QEMU microvm with its PCIe host
# bridge (virtio-pci + MSI-X, the fair peer), one after the other in this one L1: a raw
# virtio-blk disk in L1's RAM, a virtio-net card on a tap with vhost-net and a second one on
# the user network (libslirp in both VMMs; guest->L1 through its NAT, L1->guest through a
# port forward). The disk is
# measured at queue depth 1 (dd, randio) and at depth 32 (randio -q 32: 1 MiB sequential
# writes and reads, 4 KiB random reads).
# Prints "VBENCH <vmm> <metric> <value>" lines; throughput and times on L2's clock, exits
# from L1 KVM's counters for the VM (everything the guest did between the two reads,
# including typing the command and its one-line output).
# With lab.vmm=qemu (tests/lab/run.sh --vmm qemu vbench) only QEMU runs.
# lab-smp: 1
# lab-timeout: 900
. /lab/lib.sh

DISK=/tmp/vbench.img
DISK_MB=128   # sequential read/write size, also the disk's size
NET_MB=8      # MiB sent each way (the lab's network moves well under 1 MB/s)
RAND_SECONDS=10
DEEP_SECONDS=10 # each queue-depth-32 row
DEPTH=32
PINGS=20
TAP=vbtap0
PORT=5001
USER_PORT=5002     # the guest's listener, and L1's for the guest's connection
USER_FWD_PORT=5003 # the user network's forward: L1's 127.0.0.1:5003 -> the guest's 5002
VSOCK=/tmp/vbench.vsock

bench_line() {
	echo "VBENCH $*"
}

# per UNIT-COUNT DELTA: DELTA/COUNT with one decimal, two below 10 (at queue depth 32 a request
# takes a fraction of an exit).
per() {
	awk -v n="$1" -v d="$2" 'BEGIN {
		if (n > 0) printf (d / n < 10 ? "%.2f\n" : "%.1f\n"), d / n; else print "nan" }'
}

# guest_timed VMM METRIC MB SECONDS COMMAND: run COMMAND (moves MB MiB) under the guest's
# `t` timer; prints VBENCH METRIC (MB/s) and METRIC_exits_per_mib.
guest_timed() {
	vmm=$1 metric=$2 mb=$3 limit=$4
	shift 4
	e0=$(vm_kvm_exits)
	out=$(vm_run "$limit" "t $*") || lab_fail "$vmm: '$*' failed in the guest: $(echo "$out" | tail -n 3)"
	e1=$(vm_kvm_exits)
	secs=$(echo "$out" | awk '$1 == "T" { printf "%.2f\n", $3 - $2 }')
	[ -n "$secs" ] || lab_fail "$vmm: no timing from '$*': $out"
	bench_line "$vmm $metric $(awk -v mb="$mb" -v s="$secs" 'BEGIN { printf "%.2f\n", (s > 0 ? mb / s : 0) }')"
	bench_line "$vmm ${metric}_exits_per_mib $(per "$mb" $((e1 - e0)))"
}

# vm_kvm_exits: the current VM's exit count (L1 KVM debugfs).
vm_kvm_exits() {
	cat "$(kvm_vm_debugfs)/exits" 2>/dev/null || echo 0
}

# randio_run VMM SECONDS RANDIO-ARGS...: randio ARGS -t SECONDS /dev/vda in the guest; sets
# line (its result line), ops (requests completed), bytes (moved) and exits (L1 KVM's exit count
# over the run).
randio_run() {
	vmm=$1 secs=$2
	shift 2
	e0=$(vm_kvm_exits)
	out=$(vm_run $((secs + 60)) "randio $* -t $secs /dev/vda") ||
		lab_fail "$vmm: randio $* failed: $(echo "$out" | tail -n 3)"
	e1=$(vm_kvm_exits)
	exits=$((e1 - e0))
	line=$(echo "$out" | grep '^randio:')
	[ -n "$line" ] || lab_fail "$vmm: no result from randio $*: $out"
	ops=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
	bytes=$(($(echo "$line" | sed -n 's/.* bs=\([0-9]*\).*/\1/p') * ops))
}

# random_io VMM NAME RANDIO-ARGS...: randio on /dev/vda: IOPS, mean latency, exits per request.
random_io() {
	vmm=$1 name=$2
	shift 2
	randio_run "$vmm" "$RAND_SECONDS" "$@"
	bench_line "$vmm ${name}_iops $(echo "$line" | sed -n 's/.* iops=\([0-9]*\).*/\1/p')"
	bench_line "$vmm ${name}_lat_us $(echo "$line" | sed -n 's/.* lat_us=\([0-9.]*\).*/\1/p')"
	bench_line "$vmm ${name}_exits_per_op $(per "$ops" "$exits")"
}

# stream_io VMM METRIC RANDIO-ARGS...: randio on /dev/vda moving large blocks: METRIC (MiB/s),
# METRIC_exits_per_mib, and the requests' mean latency as METRIC_lat_us.
stream_io() {
	vmm=$1 metric=$2
	shift 2
	randio_run "$vmm" "$DEEP_SECONDS" "$@"
	bench_line "$vmm $metric $(echo "$line" | sed -n 's/.* mbs=\([0-9.]*\).*/\1/p')"
	bench_line "$vmm ${metric}_exits_per_mib $(per "$((bytes / 1048576))" "$exits")"
	bench_line "$vmm ${metric}_lat_us $(echo "$line" | sed -n 's/.* lat_us=\([0-9.]*\).*/\1/p')"
}

# net_to_l1 VMM: the guest sends NET_MB MiB to a listener in L1.
net_to_l1() {
	# busybox nc closes the connection once its stdin ends: the listener's stdin is a FIFO
	# that this shell holds open and never writes.
	rm -f /run/vbench-nc-in
	mkfifo /run/vbench-nc-in
	exec 4<>/run/vbench-nc-in
	nc -l -p $PORT </run/vbench-nc-in >/dev/null &
	listener=$!
	sleep 1
	# Piped from dd, not read from a file: from a file the transfer ran ~10x faster, but the
	# benchmark then hung in both runs while QEMU was L2's VMM (L1 silent until killed; gureum's
	# one such run finished); with dd | nc it never did (3 of 3).
	guest_timed "$1" net_tx_mbs "$NET_MB" 120 \
		"sh -c 'dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null | nc $LAB_NET_L1 $PORT'"
	kill $listener 2>/dev/null
	exec 4>&-
}

# net_from_l1 VMM: L1 sends NET_MB MiB to a listener in the guest (timed on L1's clock: the
# sender's nc ends once the guest's listener has read everything and closed).
net_from_l1() {
	vmm=$1
	vm_run 20 "(sleep 600 | nc -l -p $PORT >/dev/null) & sleep 1" >/dev/null
	e0=$(vm_kvm_exits)
	a=$(uptime_cs)
	dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null | timeout 120 nc $LAB_NET_GUEST $PORT ||
		lab_fail "$vmm: nc from L1 to the guest failed or took over 120 s; the guest's sockets: $(vm_run 20 'netstat -tn' | tr '\n' ';')"
	b=$(uptime_cs)
	e1=$(vm_kvm_exits)
	bench_line "$vmm net_rx_mbs $(awk -v mb="$NET_MB" -v cs=$((b - a)) 'BEGIN { printf "%.2f\n", (cs > 0 ? mb * 100 / cs : 0) }')"
	bench_line "$vmm net_rx_mbs_exits_per_mib $(per "$NET_MB" $((e1 - e0)))"
	vm_run 20 "killall sleep" >/dev/null
}

# ping_latency VMM: PINGS pings from the guest to L1, average round trip in microseconds.
ping_latency() {
	vmm=$1
	e0=$(vm_kvm_exits)
	out=$(vm_run 120 "ping -c $PINGS -i 0.2 $LAB_NET_L1 | tail -n 1") || lab_fail "$vmm: ping failed: $out"
	e1=$(vm_kvm_exits)
	avg=$(echo "$out" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
	[ -n "$avg" ] || lab_fail "$vmm: no round-trip time from ping: $out"
	bench_line "$vmm ping_rtt_us $(awk -v ms="$avg" 'BEGIN { printf "%.0f\n", ms * 1000 }')"
	bench_line "$vmm ping_exits_per_ping $(per "$PINGS" $((e1 - e0)))"
}

# user_net VMM: NET_MB MiB each way over the user network card (eth1, by DHCP, on 10.0.3.0/24
# since the tap card has 10.0.2.0/24): the guest to a listener in L1 through the NAT (10.0.3.2
# is L1's loopback), L1 to a listener in the guest through the port forward.
user_net() {
	vmm=$1
	vm_run 60 "ip link set eth1 up && udhcpc -i eth1 -q -n -t 10 >/dev/null 2>&1" >/dev/null ||
		lab_fail "$vmm: no DHCP lease on the user network card"
	rm -f /run/vbench-nc-in
	mkfifo /run/vbench-nc-in
	exec 4<>/run/vbench-nc-in
	nc -l -p $USER_PORT </run/vbench-nc-in >/dev/null &
	listener=$!
	sleep 1
	guest_timed "$vmm" user_tx_mbs "$NET_MB" 120 \
		"sh -c 'dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null | nc 10.0.3.2 $USER_PORT'"
	kill $listener 2>/dev/null
	exec 4>&-
	vm_run 20 "(sleep 600 | nc -l -p $USER_PORT >/dev/null) & sleep 1" >/dev/null
	a=$(uptime_cs)
	dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null | timeout 120 nc 127.0.0.1 $USER_FWD_PORT ||
		lab_fail "$vmm: nc from L1 through the user network's forward failed or took over 120 s"
	b=$(uptime_cs)
	bench_line "$vmm user_rx_mbs $(awk -v mb="$NET_MB" -v cs=$((b - a)) 'BEGIN { printf "%.2f\n", (cs > 0 ? mb * 100 / cs : 0) }')"
	vm_run 20 "killall sleep" >/dev/null
	# Round trips through the NAT: libslirp forwards the guest's pings to L1's loopback.
	out=$(vm_run 120 "ping -c $PINGS -i 0.2 10.0.3.2 | tail -n 1") || lab_fail "$vmm: user network ping failed: $out"
	avg=$(echo "$out" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
	[ -n "$avg" ] || lab_fail "$vmm: no round-trip time from the user network's ping: $out"
	bench_line "$vmm user_ping_rtt_us $(awk -v ms="$avg" 'BEGIN { printf "%.0f\n", ms * 1000 }')"
}

# vsock_echo: (gureum only: QEMU's vsock needs the host's vhost-vsock) NET_MB MiB from L1
# through the VM's vsock Unix socket to an echo server in the guest and back.
vsock_echo() {
	rm -rf /tmp/vbench-root
	mkdir -p /tmp/vbench-root
	(cd /tmp/vbench-root && zcat "$L2_INITRD" | cpio -id 2>/dev/null)
	vm_send 'vsock-tool listen 5000 &'
	sleep 1
	a=$(uptime_cs)
	dd if=/dev/zero bs=1M count=$NET_MB 2>/dev/null |
		timeout 120 /tmp/vbench-root/bin/vsock-tool connect $VSOCK 5000 >/dev/null 2>&1 ||
		lab_fail "gureum: vsock echo of $NET_MB MiB failed or took over 120 s"
	b=$(uptime_cs)
	bench_line "gureum vsock_echo_mbs $(awk -v mb="$NET_MB" -v cs=$((b - a)) 'BEGIN { printf "%.2f\n", (cs > 0 ? mb * 100 / cs : 0) }')"
	vm_run 20 "killall vsock-tool" >/dev/null
}

run_vmm() {
	vmm=$1
	rm -f "$DISK"
	dd if=/dev/zero of="$DISK" bs=1M count=0 seek=$DISK_MB 2>/dev/null
	tap_setup $TAP
	vsock=
	[ "$vmm" = gureum ] && vsock="--vsock cid=3,socket=$VSOCK"
	cmd=$(LAB_VMM=$vmm virtio_vmm_cmd 1 "$(vm_disk_opts "$vmm" bench0 "$DISK")" $vsock \
		"$(vm_net_opts "$vmm" $TAP)" "$(vm_user_net_opts "$vmm" net=10.0.3.0/24 hostfwd=tcp:127.0.0.1:$USER_FWD_PORT-:$USER_PORT)")
	start=$(uptime_cs)
	vm_boot "$vmm" "$cmd"
	bench_line "$vmm boot_to_shell_s $(awk -v cs=$(($(uptime_cs) - start)) 'BEGIN { printf "%.1f\n", cs / 100 }')"
	bench_line "$vmm rss_after_boot_kb $(vm_rss_kb)"
	vm_run 20 '[ -b /dev/vda ] && ip link set eth0 up && ip addr add '"$LAB_NET_GUEST/$LAB_NET_PREFIX"' dev eth0' >/dev/null ||
		lab_fail "$vmm: the guest has no /dev/vda or eth0: $(vm_run 20 'ls /sys/block /sys/class/net')"
	# t CMD...: run CMD, then print "T <start> <end>" (seconds of the guest's uptime).
	vm_run 20 't() { a=$(cut -d" " -f1 /proc/uptime); "$@"; r=$?; b=$(cut -d" " -f1 /proc/uptime); echo "T $a $b"; return $r; }' >/dev/null

	guest_timed "$vmm" seq_write_mbs "$DISK_MB" 300 \
		"dd if=/dev/zero of=/dev/vda bs=1M count=$DISK_MB oflag=direct 2>/dev/null"
	guest_timed "$vmm" seq_read_mbs "$DISK_MB" 300 \
		"dd if=/dev/vda of=/dev/null bs=1M count=$DISK_MB iflag=direct 2>/dev/null"
	random_io "$vmm" randread
	random_io "$vmm" randwrite -w
	# Queue depth 32 from one guest thread (randio -q: Linux native AIO, O_DIRECT), time-bound;
	# sequential 1 MiB requests wrap around the disk.
	stream_io "$vmm" seq_write_qd32_mbs -s -w -q $DEPTH -b 1048576
	stream_io "$vmm" seq_read_qd32_mbs -s -q $DEPTH -b 1048576
	random_io "$vmm" randread_qd32 -q $DEPTH
	ping_latency "$vmm"
	net_to_l1 "$vmm"
	net_from_l1 "$vmm"
	user_net "$vmm"
	[ "$vmm" = gureum ] && vsock_echo

	bench_line "$vmm rss_end_kb $(vm_rss_kb)"
	bench_line "$vmm rss_peak_kb $(vm_rss_kb "" VmHWM)"
	status=$(vm_poweroff 60)
	[ "$status" = 0 ] || lab_fail "$vmm: exit status $status after poweroff -f"
	vm_kill
	tap_remove $TAP
	rm -f "$DISK"
}

if [ "${LAB_VMM:-gureum}" = qemu ]; then
	vmms=qemu
else
	require_gureum
	vmms="gureum qemu"
fi
for v in $vmms; do
	run_vmm "$v"
done
lab_pass "measured: $vmms"
