# Post-copy migration (`gureum ctl SOCK migrate URI --postcopy`): the destination runs the VM
# before all of its RAM is there and fetches the rest, the pages the guest touches first.
# - Under KVM the guest rewrites a 32 MiB buffer in a loop, faster than the 16 MiB/s link, so
#   pre-copy cannot converge: after its rounds the VM switches to post-copy. On the software
#   CPU (no dirty log) it switches at once: only the records move while the VM is paused.
# - Afterwards the source exits 0, the guest's ticks go on with no gap and no repeat, 8 MiB of
#   RAM data and 16 MiB written to its disk read back with the sha256 taken before, and the
#   destination asked for some pages on demand.
# - Then on to a third process in post-copy at once (--postcopy-after 0, also under KVM) over a
#   4 MiB/s link: while the pages go, migrate-status says post-copy and migrate-cancel is
#   refused (the VM cannot come back); `migrate-reconnect` drops the link: the source connects
#   again, the destination (listening again on its URI) lists the pages it still lacks, and
#   the post-copy ends with the RAM intact.
# - On to a fourth in post-copy, and the third (its source) is killed: the fourth must not run
#   the guest on memory it never got; after waiting 30 s for the source to come back it stops
#   with status 1, saying so.
# - A fresh VM whose destination is killed during its post-copy: the source tries 30 s to
#   connect again, then, since it cannot run a VM the destination ran, stops with status 1
#   too, and the migration's reply says why.
# lab-timeout: 900
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (control socket); skipped for $LAB_VMM"

DISK=/tmp/vpc.img
DATA_MB=16
S1=/run/vm-pc1.sock S2=/run/vm-pc2.sock S3=/run/vm-pc3.sock

num() { echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
# in_postcopy SOCK: waits until migrate-status on SOCK shows the post-copy phase.
in_postcopy() {
	limit=$(($(date +%s) + 120))
	until st=$(/lab/bin/gureum ctl --json "$1" migrate-status) && echo "$st" | grep -q '"postcopy":true'; do
		echo "$st" | grep -q '"state":"\(failed\|cancelled\)"' && lab_fail "the migration ended before post-copy: $st"
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "no post-copy phase after 120 s: $st"
		sleep 0.1
	done
}

rm -f "$DISK"
dd if=/dev/zero of="$DISK" bs=1M count=0 seek=64 2>/dev/null
vm_boot vpc1 "$(gureum_cmd 1 "$(vm_disk_opts gureum d0 "$DISK")" --api-socket $S1)"
ram_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/ram bs=1M count=8 2>/dev/null && sha256sum </tmp/ram")
disk_sha=$(guest_sha "dd if=/dev/urandom of=/tmp/d bs=1M count=$DATA_MB 2>/dev/null && dd if=/tmp/d of=/dev/vda bs=64k oflag=direct 2>/dev/null && sha256sum </tmp/d")
[ -n "$ram_sha" ] && [ -n "$disk_sha" ] || lab_fail "the guest did not hash its data"
vm_send "(i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); echo TICK \$i; sleep 0.2; done) &"
wait_console '^TICK ' 5 60 || lab_fail "the guest's ticker does not run"
# One process, no forks: each read from /dev/zero rewrites dd's 32 MiB buffer.
# Under KVM the migration must not begin before it runs (a fork takes seconds in nested L2):
# otherwise pre-copy converges on an idle guest and no page is left to ask for.
if [ "${LAB_DIRECT:-0}" != 1 ]; then
	vm_send "dd if=/dev/zero of=/dev/null bs=32M count=100000 2>/dev/null &"
	limit=$(($(date +%s) + 60))
	until vm_run 10 'pidof dd' | grep -q '^[0-9]'; do
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "the guest's dd does not run"
		sleep 0.5
	done
fi
sleep 2

SRC=$VM
vm_incoming vpc2 unix:/run/vm-pc.sock $S2
DEST=$VM
vm_use "$SRC"
/lab/bin/gureum ctl --json $S1 migrate unix:/run/vm-pc.sock --postcopy --downtime-ms 1 --max-bandwidth 16M >/tmp/vpc1.out 2>&1 &
mig=$!
wait $mig || lab_fail "the post-copy migration failed: $(cat /tmp/vpc1.out)"
out=$(cat /tmp/vpc1.out)
echo "$out" | grep -q '"postcopy":true' || lab_fail "the migration did not go on in post-copy: $out"
down=$(num "$out" downtime_ms) ms=$(num "$out" ms) pages=$(num "$out" postcopy_pages)
asked=$(num "$out" postcopy_requested) pc_ms=$(num "$out" postcopy_ms) rounds=$(num "$out" rounds)
[ "$pages" -gt 0 ] || lab_fail "no page came after the switch: $out"
[ "$asked" -gt 0 ] || lab_fail "the destination asked for no page on demand: $out"
[ "$down" -lt "$pc_ms" ] || lab_fail "the pause ($down ms) was not shorter than the post-copy phase ($pc_ms ms): $out"
if [ "${LAB_DIRECT:-0}" != 1 ]; then
	[ "$rounds" -ge 1 ] || lab_fail "KVM's post-copy switched without pre-copy rounds: $out"
fi
[ "$(vm_exit_status "$SRC")" = 0 ] || lab_fail "the source did not exit 0 after the migration: $(tail -3 "$SRC/stderr")"
vm_use "$DEST"
ticks_go_on_from "$(console_ticks "$SRC" | tail -n1)" "the destination"
grep -q 'every page of guest RAM is here' "$VM/stderr" || lab_fail "the destination never said it had every page: $(tail -3 "$VM/stderr")"
# Its devices started before the pages came: none may have read a ring not there yet.
! grep -a 'warning: virtio' "$VM/stderr" || lab_fail "a device of the destination saw a broken ring"
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM differs after the post-copy ($got, want $ram_sha)"
got=$(guest_sha "dd if=/dev/vda bs=1M count=$DATA_MB iflag=direct 2>/dev/null | sha256sum")
[ "$got" = "$disk_sha" ] || lab_fail "the disk reads back other data after the post-copy"

# A post-copy whose link breaks (migrate-reconnect drops it) goes on over a new one: the
# source connects again, the destination listens again and lists the pages it still lacks.
SRC=$VM
vm_incoming vpc3 unix:/run/vm-pc3-in.sock $S3
DEST=$VM
vm_use "$SRC"
/lab/bin/gureum ctl --json $S2 migrate unix:/run/vm-pc3-in.sock --postcopy-after 0 --max-bandwidth 4M >/tmp/vpc2.out 2>&1 &
mig=$!
in_postcopy $S2
out=$(/lab/bin/gureum ctl $S2 migrate-cancel 2>&1) && lab_fail "migrate-cancel during post-copy succeeded"
echo "$out" | grep -q 'post-copy: the VM runs there already' || lab_fail "migrate-cancel during post-copy: $out"
out=$(/lab/bin/gureum ctl $S2 migrate-reconnect 2>&1) || lab_fail "migrate-reconnect during post-copy failed: $out"
wait $mig || lab_fail "the post-copy did not survive its broken link: $(cat /tmp/vpc2.out; tail -5 "$SRC/stderr")"
out=$(cat /tmp/vpc2.out)
recoveries=$(num "$out" postcopy_recoveries)
[ "${recoveries:-0}" -ge 1 ] || lab_fail "the reply counts no link made again: $out"
grep -q 'post-copy: the link to the destination broke' "$SRC/stderr" || lab_fail "the source did not say its link broke"
grep -q 'post-copy: the source is back' "$DEST/stderr" || lab_fail "the destination did not take the source back: $(tail -5 "$DEST/stderr")"
[ "$(vm_exit_status "$SRC")" = 0 ] || lab_fail "the source of the relinked post-copy did not exit 0"
vm_use "$DEST"
wait_log vpc3 'every page of guest RAM is here' "the relinked post-copy never finished"
got=$(guest_sha "sha256sum </tmp/ram")
[ "$got" = "$ram_sha" ] || lab_fail "guest RAM differs after a post-copy whose link broke ($got, want $ram_sha)"

# The source killed during a post-copy: the destination waits for it to come back, then
# stops with status 1 and says why.
SRC=$VM
vm_incoming vpc6 unix:/run/vm-pc6.sock /run/vm-pc6ctl.sock
DEST=$VM
vm_use "$SRC"
/lab/bin/gureum ctl --json $S3 migrate unix:/run/vm-pc6.sock --postcopy-after 0 --max-bandwidth 4M >/tmp/vpc4.out 2>&1 &
mig=$!
in_postcopy $S3
killed=
for pid in $(pidof gureum); do
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--incoming unix:/run/vm-pc3-in.sock' &&
		kill -9 "$pid" && killed=$pid
done
[ -n "$killed" ] || lab_fail "no source process to kill"
wait $mig
[ "$(vm_exit_status "$DEST")" = 1 ] || lab_fail "the destination did not stop with status 1 when its post-copy source died: $(tail -3 "$DEST/stderr")"
grep -q 'post-copy broke off with .* MiB of guest RAM still on the source (it did not come back)' "$DEST/stderr" ||
	lab_fail "the destination did not say why it stopped: $(tail -3 "$DEST/stderr")"
vm_use "$DEST"
vm_kill

# The destination killed during a post-copy: the source, which cannot run a VM the
# destination ran, stops with status 1 too, and the migration's reply says why.
vm_boot vpc4 "$(gureum_cmd 1 --api-socket $S1)"
SRC=$VM
vm_incoming vpc5 unix:/run/vm-pc5.sock $S3
DEST=$VM
vm_use "$SRC"
/lab/bin/gureum ctl --json $S1 migrate unix:/run/vm-pc5.sock --postcopy-after 0 --max-bandwidth 4M >/tmp/vpc3.out 2>&1 &
mig=$!
in_postcopy $S1
killed=
for pid in $(pidof gureum); do
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--incoming unix:/run/vm-pc5.sock' &&
		kill -9 "$pid" && killed=$pid
done
[ -n "$killed" ] || lab_fail "no destination process to kill"
wait $mig && lab_fail "a post-copy to a killed destination succeeded: $(cat /tmp/vpc3.out)"
grep -q 'post-copy failed with .* MiB not sent (the destination did not come back within 30 s.*cannot resume here' /tmp/vpc3.out ||
	lab_fail "a post-copy to a killed destination: unexpected reply $(cat /tmp/vpc3.out)"
[ "$(vm_exit_status "$SRC")" = 1 ] || lab_fail "the source of a broken post-copy did not stop with status 1: $(tail -3 "$SRC/stderr")"
vm_kill
rm -f "$DISK"
how="post-copy at once (software CPU)"
[ "${LAB_DIRECT:-0}" = 1 ] || how="post-copy after $rounds pre-copy rounds"
lab_pass "$how: paused $down ms, then $pages pages in $pc_ms ms ($asked asked for on demand), $ms ms in all; ticks, RAM and disk intact, cancel refused meanwhile; a post-copy whose link was dropped went on over a new one ($recoveries); a destination whose post-copy source died stopped with status 1 after waiting for it, and so did a source whose destination died"
