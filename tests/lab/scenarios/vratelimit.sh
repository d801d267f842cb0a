# Disk I/O limits (--disk ...,bps=,bps-burst=,iops=,iops-burst=; gureum ctl disk-limit): the
# guest reads its disk with O_DIRECT and its rate, timed by the guest's own clock, is the limit:
# - bps=8M,bps-burst=1M: 48 MiB with bs=1M; (bytes - burst) / time within 10% of 8 MiB/s;
# - disk-limit to bps=16M at runtime (the reply says so): the same read at 16 MiB/s within 10%;
# - disk-limit to iops=200,iops-burst=10 (bandwidth lifted): 1000 reads of 4 KiB at 200/s within
#   10%;
# - a pause while requests wait for tokens returns at once, and after resume the reads finish;
# - the guest saw no I/O error (dd's status, its kernel log), and the VM powers off cleanly
#   when its ACPI power button is pressed (gureum ctl power-button).
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
vm_boot vratelimit "$(gureum_cmd 1 "$(vm_disk_opts gureum rl0 "$DISK"),bps=8M,bps-burst=1M" --api-socket $SOCK)"

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

errors=$(vm_run 30 "dmesg | grep -c -i -e 'I/O error' -e 'blk_update_request' -e 'timeout'")
[ "${errors:-x}" = 0 ] || lab_fail "the guest's kernel logged I/O errors: $(vm_run 30 "dmesg | grep -i -e error -e timeout | tail -5")"
# The end: the ACPI power button (the guest's init powers off on it, as logind would).
ctl power-button >/dev/null || lab_fail "power-button refused: $(ctl power-button)"
wait_console 'power button pressed, powering off' 1 30 || lab_fail "the guest did not see the power button"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after the power button"
vm_kill
rm -f "$DISK"
lab_pass "bps=8M: $((r8 / 1024)) KiB/s (48 MiB in $s8 s); at runtime bps=16M: $((r16 / 1024)) KiB/s ($s16 s); iops=200: $riops/s ($siops s); pause with throttled requests ${pause_ms} ms; no guest I/O errors; powered off by its power button"
