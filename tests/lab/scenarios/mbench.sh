# VM mobility benchmark (run by bench/mobility.sh; not in the default list): the same guest
# (1 vCPU, 256M, 64 MiB of random data in its tmpfs) under gureum and under QEMU microvm, one
# after the other in this one L1:
# - save: gureum's `ctl snapshot` against QEMU's `migrate "exec:cat > FILE"` (each VMM's own
#   figure for the time, and the size of what it wrote on disk);
# - restore: from starting the VMM on the saved state to the guest's shell answering
#   (gureum --restore, QEMU -incoming "exec:cat FILE"), measured here the same way for both;
# - live migration to a second VMM over a unix socket while the guest rewrites 4 MiB of RAM
#   in a loop, both with a 300 ms downtime limit: total time and the pause, as each reports;
# - gureum only: on to a third in post-copy at once (its pause, and how long the pages took).
#   QEMU's post-copy is not measured here (it needs the capability set on both monitors).
# Prints "MBENCH <vmm> <metric> <value>" lines.
# lab-smp: 2
# lab-timeout: 900
. /lab/lib.sh

FILL_MB=64
line() { echo "MBENCH $*"; }
ms_since() { echo $((($(uptime_cs) - $1) * 10)); }
fill() { vm_run 120 "dd if=/dev/urandom of=/tmp/fill bs=1M count=$FILL_MB 2>/dev/null; echo filled" >/dev/null; }
churn() { vm_send "(while true; do dd if=/dev/urandom of=/tmp/churn bs=1M count=4 2>/dev/null; done) &"; }
json_field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
wait_shell() { vm_run 120 'echo up' >/dev/null || lab_fail "$1: the guest does not answer"; }

gureum_half() {
	sock=/run/mb.sock
	vm_boot mb-g "$(gureum_cmd 1 --api-socket $sock)"
	fill
	out=$(/lab/bin/gureum ctl --json $sock snapshot /tmp/gsnap --stay-paused) || lab_fail "snapshot: $out"
	line gureum save_ms "$(json_field "$out" ms)"
	line gureum saved_mib $(($(du -sk /tmp/gsnap | cut -f1) / 1024))
	/lab/bin/gureum ctl $sock quit >/dev/null
	vm_wait_exit 60 >/dev/null
	vm_kill
	t0=$(uptime_cs)
	vm_start mb-gr "/lab/bin/gureum run --restore /tmp/gsnap --console stdio --api-socket $sock"
	wait_shell "gureum restore"
	line gureum restore_to_shell_ms "$(ms_since "$t0")"
	churn
	vm_start mb-gd "/lab/bin/gureum run --incoming unix:/run/mb-mig.sock --console stdio --api-socket /run/mb2.sock"
	until grep -q 'waiting for a migration' "$VM/stderr"; do sleep 0.1; done
	out=$(/lab/bin/gureum ctl --json $sock migrate unix:/run/mb-mig.sock --downtime-ms 300) || lab_fail "migrate: $out"
	line gureum migrate_total_ms "$(json_field "$out" ms)"
	line gureum migrate_downtime_ms "$(json_field "$out" downtime_ms)"
	wait_shell "gureum after migration"
	# On to a third process in post-copy at once: the pause is the switch's alone, then the
	# pages follow (the guest still rewriting its 4 MiB).
	vm_start mb-gp "/lab/bin/gureum run --incoming unix:/run/mb-pc.sock --console stdio --api-socket /run/mb3.sock"
	until grep -q 'waiting for a migration' "$VM/stderr"; do sleep 0.1; done
	out=$(/lab/bin/gureum ctl --json /run/mb2.sock migrate unix:/run/mb-pc.sock --postcopy --postcopy-after 0) ||
		lab_fail "post-copy: $out"
	line gureum postcopy_pause_ms "$(json_field "$out" downtime_ms)"
	line gureum postcopy_total_ms "$(json_field "$out" postcopy_ms)"
	wait_shell "gureum after post-copy"
	/lab/bin/gureum ctl /run/mb3.sock quit >/dev/null
	vm_wait_exit 60 >/dev/null
	vm_kill
	rm -rf /tmp/gsnap
}

# QEMU's human monitor on a pipe chardev (MON.in / MON.out), kept open on fd 4.
qemu_monitor_cmd() {
	echo "$(qemu_cmd 1 | sed 's/-monitor none//') -chardev pipe,id=mon,path=$1 -mon chardev=mon,mode=readline $2"
}
mon_open() {
	rm -f "$1.in" "$1.out" "$1.log"
	mkfifo "$1.in" "$1.out"
	exec 4<>"$1.in"
	cat "$1.out" >"$1.log" &
	MON=$1
}
mon() { echo "$1" >&4; }
# mon_wait_migration: polls `info migrate` until it completes; leaves its text in MIG_INFO.
mon_wait_migration() {
	limit=$(($(date +%s) + 300))
	while :; do
		: >"$MON.log"
		mon "info migrate"
		sleep 0.3
		MIG_INFO=$(tr -d '\r' <"$MON.log")
		echo "$MIG_INFO" | grep -q 'Migration status: completed' && return 0
		echo "$MIG_INFO" | grep -q 'Migration status: failed' && lab_fail "QEMU's migration failed: $MIG_INFO"
		[ "$(date +%s)" -lt "$limit" ] || lab_fail "QEMU's migration did not complete: $MIG_INFO"
	done
}
mig_value() { echo "$MIG_INFO" | sed -n "s/^$1: \([0-9]*\) ms.*/\1/p" | head -n1; }

qemu_half() {
	mon_open /run/qmon
	vm_boot mb-q "$(qemu_monitor_cmd /run/qmon)"
	fill
	mon 'migrate "exec:cat > /tmp/q.mig"'
	mon_wait_migration
	line qemu save_ms "$(mig_value 'total time')"
	line qemu saved_mib $(($(du -sk /tmp/q.mig | cut -f1) / 1024))
	mon quit
	vm_wait_exit 60 >/dev/null
	vm_kill
	exec 4>&-
	mon_open /run/qmon2
	t0=$(uptime_cs)
	vm_start mb-qr "$(qemu_monitor_cmd /run/qmon2 "-incoming 'exec:cat /tmp/q.mig'")"
	wait_shell "QEMU restore"
	line qemu restore_to_shell_ms "$(ms_since "$t0")"
	churn
	src_mon=$MON
	vm_start mb-qd "$(qemu_cmd 1) -incoming unix:/run/qm-mig.sock"
	sleep 1
	MON=$src_mon
	mon 'migrate_set_parameter downtime-limit 300'
	mon 'migrate -d unix:/run/qm-mig.sock'
	mon_wait_migration
	line qemu migrate_total_ms "$(mig_value 'total time')"
	line qemu migrate_downtime_ms "$(mig_value 'downtime')"
	wait_shell "QEMU after migration"
	mon quit
	vm_send 'poweroff -f'
	vm_wait_exit 60 >/dev/null
	vm_kill
	exec 4>&-
	rm -f /tmp/q.mig
}

# Both VMMs by default; with lab.vmm=qemu (bench/mobility.sh --qemu-only) QEMU's half alone.
[ "${LAB_VMM:-gureum}" = qemu ] || gureum_half
qemu_half
lab_pass "mobility benchmark done"
