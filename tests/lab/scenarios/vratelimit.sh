# Disk I/O limits (--disk ...,bps=,bps-burst=,iops=,iops-burst=; gureum ctl disk-limit): the
# guest reads its disk with O_DIRECT and its rate, timed by the guest's own clock, is the limit:
# - bps=8M,bps-burst=1M: 48 MiB with bs=1M; (bytes - burst) / time within 10% of 8 MiB/s;
# - disk-limit to bps=16M at runtime (the reply says so): the same read at 16 MiB/s within 10%;
# - disk-limit to iops=200,iops-burst=10 (bandwidth lifted): 1000 reads of 4 KiB at 200/s within
#   10%;
# - a pause while requests wait for tokens returns at once, and after resume the reads finish;
# - the guest saw no I/O error (dd's status, its kernel log);
# Network rate limits (--net ...,rx-bps=,tx-bps=,..; gureum ctl net-limit) on a card on a tap
# with vhost=auto (limits keep its frames in gureum), timed by L1's clock at the receiving end.
# A limit counts whole Ethernet frames, headers included: TCP's payload is measured, which is at
# least 94% of them here (busybox nc's 1 KiB writes), so the payload rate must be within 10% of
# the limit:
# - rx-bps=128K,rx-bps-burst=8K at boot: 768 KiB from L1 to a listener in the guest;
# - the guest's sending, still unlimited, must be at least twice that fast (else the limit below
#   could not be told from the guest's own speed: the scenario fails saying so);
# - net-limit to tx-bps=128K,tx-bps-burst=8K (rx lifted) at runtime: 768 KiB from the guest to a
#   listener in L1, and L1's sending is no longer limited;
# (Frame rates, pps=, are not measured here: TCP's frame sizes vary with TSO, and a ping flood
# faster than the limit loses requests in the guest's own queues.)
# and the VM powers off cleanly when its ACPI power button is pressed (gureum ctl power-button).
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (disk limits); skipped for $LAB_VMM"

SOCK=/run/vm-ratelimit.sock
DISK=/tmp/vratelimit.img
MIB=1048576

ctl() { /lab/bin/gureum ctl --json "$SOCK" "$@"; }
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# timed_read BS COUNT: dd from vda in the guest with O_DIRECT; SECS = the seconds it took by
# the guest's clock (/proc/uptime); fails the scenario when dd did not copy it all. (Not run in
# a $(...) subshell, where lab_fail would not end the scenario.)
timed_read() {
	out=$(vm_run 120 "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=$1 count=$2 iflag=direct 2>&1; echo DD-\$?; b=\$(cut -d' ' -f1 /proc/uptime); echo T \$a \$b")
	echo "$out" | grep -q '^DD-0$' || lab_fail "dd bs=$1 count=$2 failed in the guest: $out"
	echo "$out" | grep -q "^$2+0 records in" || lab_fail "dd bs=$1 count=$2 read less: $out"
	SECS=$(echo "$out" | awk '/^T / { printf "%.2f\n", $3 - $2 }')
}

# check_rate WHAT UNITS BURST LIMIT: RATE = (UNITS - BURST) / SECS, which must be within 10% of
# LIMIT.
check_rate() {
	RATE=$(awk -v u="$2" -v b="$3" -v s="$SECS" 'BEGIN { printf "%.0f", (u - b) / s }')
	awk -v r="$RATE" -v l="$4" 'BEGIN { exit !(r >= 0.9 * l && r <= 1.1 * l) }' ||
		lab_fail "$1: $RATE per second measured ($2 in $SECS s, burst $3), limit $4"
}

rm -f "$DISK"
dd if=/dev/urandom of="$DISK" bs=1M count=64 2>/dev/null
TAP=rltap0
tap_setup $TAP
vm_boot vratelimit "$(gureum_cmd 1 "$(vm_disk_opts gureum rl0 "$DISK"),bps=8M,bps-burst=1M" \
	--net tap=$TAP,vhost=auto,rx-bps=128K,rx-bps-burst=8K --api-socket $SOCK)"

reply=$(ctl disk-limit rl0) || lab_fail "disk-limit (a question) failed: $reply"
[ "$(echo "$reply" | field bps)" = $((8 * MIB)) ] || lab_fail "disk-limit does not report bps=8M: $reply"
[ "$(echo "$reply" | field bps_burst)" = $MIB ] || lab_fail "disk-limit does not report the 1M burst: $reply"

timed_read 1M 48
check_rate "bps=8M" $((48 * MIB)) $MIB $((8 * MIB))
r8=$RATE s8=$SECS
echo "vratelimit: bps=8M: $r8 bytes/s (48 MiB in $s8 s)"

reply=$(ctl disk-limit 0 bps=16M bps-burst=1M) || lab_fail "disk-limit to 16M failed: $reply"
[ "$(echo "$reply" | field bps)" = $((16 * MIB)) ] || lab_fail "disk-limit's reply: $reply"
timed_read 1M 48
check_rate "bps=16M (set at runtime)" $((48 * MIB)) $MIB $((16 * MIB))
r16=$RATE s16=$SECS
echo "vratelimit: bps=16M: $r16 bytes/s (48 MiB in $s16 s)"

reply=$(ctl disk-limit 0 bps=0 iops=200 iops-burst=10) || lab_fail "disk-limit to iops=200 failed: $reply"
[ "$(echo "$reply" | field bps)" = 0 ] && [ "$(echo "$reply" | field iops)" = 200 ] ||
	lab_fail "disk-limit's reply: $reply"
timed_read 4k 1000
check_rate "iops=200" 1000 10 200
riops=$RATE siops=$SECS
echo "vratelimit: iops=200: $riops/s (1000 x 4 KiB in $siops s)"

# A pause while reads wait for tokens (2 per second) must not wait for them.
ctl disk-limit 0 iops=2 iops-burst=1 >/dev/null || lab_fail "disk-limit to iops=2 failed"
vm_send "(dd if=/dev/vda of=/dev/null bs=4k count=12 iflag=direct 2>/dev/null; echo SLOW-DONE-\$?) &"
sleep 2
t0=$(cut -d' ' -f1 /proc/uptime)
out=$(ctl pause) || lab_fail "pause with throttled requests failed: $out"
pause_ms=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ $pause_ms -lt 2000 ] || lab_fail "pause took $pause_ms ms with requests waiting for tokens"
sleep 1
ctl resume >/dev/null || lab_fail "resume failed"
ctl disk-limit 0 iops=0 >/dev/null || lab_fail "lifting the limits failed"
wait_console 'SLOW-DONE-0' 1 60 || lab_fail "the throttled reads did not finish after the pause"

# ---- network ----

# l1_elapsed A: seconds (2 decimals) from uptime A to now, on L1's clock.
l1_elapsed() { awk -v a="$1" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f\n", b - a }'; }

# guest_to_l1 MIB: the guest sends MIB MiB to a listener in L1;
# SECS from the command to the listener's end (the guest's nc closed after its last byte).
guest_to_l1() {
	rm -f /run/vratelimit-in /run/vratelimit-got
	mkfifo /run/vratelimit-in
	exec 4<>/run/vratelimit-in
	(nc -l -p 5001 </run/vratelimit-in | wc -c >/run/vratelimit-got) &
	listener=$!
	sleep 0.5
	(sleep 60; killall nc 2>/dev/null) &
	watchdog=$!
	a=$(cut -d' ' -f1 /proc/uptime)
	vm_send "dd if=/dev/zero bs=64k count=$(awk -v m="$1" 'BEGIN { printf "%d", m * 16 }') 2>/dev/null | nc $LAB_NET_L1 5001; echo TX-DONE-\$?"
	wait $listener
	SECS=$(l1_elapsed "$a")
	kill $watchdog 2>/dev/null
	exec 4>&-
	got=$(cat /run/vratelimit-got)
	[ "$got" = "$(awk -v m="$1" -v u=$MIB 'BEGIN { printf "%d", m * u }')" ] || lab_fail "L1 got $got of the guest's $1 MiB (in $SECS s)"
	TX_RUNS=$((${TX_RUNS:-0} + 1))
	wait_console '^TX-DONE-0' $TX_RUNS 30 || lab_fail "the guest's nc failed sending $1 MiB to L1"
}

# l1_to_guest MIB: L1 sends MIB MiB to a listener in the guest; SECS
# until L1's nc ends (the guest's listener read everything and closed).
l1_to_guest() {
	vm_run 20 "(sleep 600 | nc -l -p 5000 >/dev/null) & sleep 1" >/dev/null
	a=$(cut -d' ' -f1 /proc/uptime)
	dd if=/dev/zero bs=64k count=$(awk -v m="$1" 'BEGIN { printf "%d", m * 16 }') 2>/dev/null | timeout 90 nc $LAB_NET_GUEST 5000 ||
		lab_fail "nc from L1 to the guest failed or took over 90 s"
	SECS=$(l1_elapsed "$a")
	vm_run 20 "killall sleep" >/dev/null
}

vm_run 30 "ip addr add $LAB_NET_GUEST/$LAB_NET_PREFIX dev eth0 && ip link set eth0 up" >/dev/null ||
	lab_fail "cannot configure the guest's eth0"
# (The software CPU never uses vhost-net: it must see every device write.)
[ "${LAB_DIRECT:-0}" = 1 ] || grep -q 'packets go through gureum, not vhost-net' "$VM/stderr" ||
	lab_fail "the VMM did not say that the card with limits does without vhost-net: $(cat "$VM/stderr")"
reply=$(ctl net-limit 0) || lab_fail "net-limit (a question) failed: $reply"
[ "$(echo "$reply" | field rx_bps)" = 131072 ] && [ "$(echo "$reply" | field rx_bps_burst)" = 8192 ] ||
	lab_fail "net-limit does not report rx-bps=128K with an 8K burst: $reply"
NET_BYTES=$((3 * MIB / 4))

l1_to_guest 0.75
check_rate "rx-bps=128K" $NET_BYTES 8192 131072
rrx=$RATE srx=$SECS
echo "vratelimit: rx-bps=128K: $rrx payload bytes/s (768 KiB in $srx s)"
guest_to_l1 0.75
free_tx=$(awk -v s="$SECS" -v b=$NET_BYTES 'BEGIN { printf "%.0f", b / s }')
[ "$free_tx" -ge 262144 ] ||
	lab_fail "the guest sends only $free_tx bytes/s without a limit: too slow to show tx-bps=128K"

reply=$(ctl net-limit 0 rx-bps=0 tx-bps=128K tx-bps-burst=8K) || lab_fail "net-limit to tx-bps=128K failed: $reply"
[ "$(echo "$reply" | field tx_bps)" = 131072 ] && [ "$(echo "$reply" | field rx_bps)" = 0 ] ||
	lab_fail "net-limit's reply: $reply"
guest_to_l1 0.75
check_rate "tx-bps=128K (set at runtime)" $NET_BYTES 8192 131072
rtx=$RATE stx=$SECS
echo "vratelimit: tx-bps=128K: $rtx payload bytes/s (768 KiB in $stx s)"
# rx is lifted: the same 768 KiB to the guest goes well above the old limit.
l1_to_guest 0.75
awk -v s="$SECS" -v b=$NET_BYTES 'BEGIN { exit !(b / s > 2 * 131072) }' ||
	lab_fail "with rx-bps lifted, 768 KiB to the guest still took $SECS s"
sfree=$SECS

ctl net-limit 0 tx-bps=0 >/dev/null || lab_fail "lifting the card's limits failed"

errors=$(vm_run 30 "dmesg | grep -c -i -e 'I/O error' -e 'blk_update_request' -e 'timeout'")
[ "${errors:-x}" = 0 ] || lab_fail "the guest's kernel logged I/O errors: $(vm_run 30 "dmesg | grep -i -e error -e timeout | tail -5")"
# The end: the ACPI power button (the guest's init powers off on it, as logind would).
ctl power-button >/dev/null || lab_fail "power-button refused: $(ctl power-button)"
wait_console 'power button pressed, powering off' 1 30 || lab_fail "the guest did not see the power button"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after the power button"
vm_kill
tap_remove $TAP
rm -f "$DISK"
lab_pass "bps=8M: $((r8 / 1024)) KiB/s (48 MiB in $s8 s); at runtime bps=16M: $((r16 / 1024)) KiB/s ($s16 s); iops=200: $riops/s ($siops s); pause with throttled requests ${pause_ms} ms; no guest I/O errors; net rx-bps=128K: $((rrx / 1024)) KiB/s of TCP payload ($srx s), unlimited tx $((free_tx / 1024)) KiB/s, at runtime tx-bps=128K: $((rtx / 1024)) KiB/s ($stx s), rx lifted: 768 KiB in $sfree s, powered off by its power button"
