#!/usr/bin/env bash
# gureumd with many VMs: twenty idle guests (tests/guests/idle.c) on the software CPU, each its
# own gureum process, driven through `gureum vm`. Checks what an operator relies on:
#   - all twenty run at once, each with its own console log and its own API socket;
#   - kill -9 of one is reported ("killed by signal 9", also on `gureum vm events`) and
#     restarted by its policy while the other nineteen run on with the same pids;
#   - the daemon ended and started again loses none: the same twenty pids, still watched (a
#     kill -9 after the restart is seen and restarted too);
#   - restart=never leaves a killed VM down as "failed"; a VM that cannot start is restarted
#     at most 5 times, then given up with a sentence;
#   - stop presses the power button, falls back to SIGTERM after --timeout; a running VM
#     cannot be deleted; the sockets are 0600; bad requests get 4xx and change nothing.
# usage: many_vms.sh GUREUM GUREUMD IDLE_KERNEL
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") kernel=$(realpath "$3")
count=20
work=$(mktemp -d /tmp/gureumd-test.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"

cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	# every VM process this test started, through the pids the daemon recorded
	for sock in "$work"/run/vms/*.sock; do
		[[ -e $sock ]] || continue
		pkill -KILL -f -- "--api-socket $sock" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# wait_for NAME KEY VALUE: until the field has that value (5 s).
wait_for() {
	for _ in $(seq 50); do
		[[ $(field "$1" "$2") == "$3" ]] && return 0
		sleep 0.1
	done
	fail "$1: $2 is '$(field "$1" "$2")', not '$3'"
}

# Whether a process runs (a zombie does not: after the daemon's restart, a VM that ends is
# reaped by whoever adopted the orphan, PID 1 or a subreaper, whenever it does).
alive() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $state && $state != Z ]]
}

pids_of_all() {
	"$gureum" vm --json list | python3 -c '
import json, sys
for vm in json.load(sys.stdin)["vms"]:
    print("%s=%s" % (vm["name"], vm.get("pid", "")))'
}

start_daemon
[[ $(stat -c %a "$GUREUMD_SOCKET") == 600 ]] || fail "gureumd.sock is not mode 0600"

echo "--- $count VMs defined and started"
for i in $(seq $count); do
	"$gureum" vm create vm$i -- --accel emu --kernel "$kernel" --memory 16M >/dev/null
	"$gureum" vm start vm$i >/dev/null
done
for i in $(seq $count); do
	wait_console vm$i
	[[ $(field vm$i state) == running ]] || fail "vm$i is not running"
	[[ $(stat -c %a "$work/run/vms/vm$i.sock") == 600 ]] || fail "vm$i's API socket is not 0600"
done
running=$("$gureum" vm list | grep -c " running ")
[[ $running == "$count" ]] || fail "gureum vm list shows $running running VMs, not $count"
"$gureum" vm ctl vm3 status | grep -q "running" || fail "vm3's own API socket did not answer"
echo "ok: $count VMs run, each answers on its own socket"

echo "--- kill -9 of one VM"
before=$(pids_of_all)
victim_pid=$(field vm7 pid)
"$gureum" vm events vm7 >"$work/events" 2>&1 &
events_pid=$!
sleep 0.5
kill -KILL "$victim_pid"
wait_for vm7 restarts 1
wait_for vm7 state running
for _ in $(seq 50); do grep -q " vm7 restarted " "$work/events" && break; sleep 0.1; done
kill "$events_pid"
wait "$events_pid" 2>/dev/null || true
grep -q " vm7 ended (running, pid $victim_pid): killed by signal 9 (Killed)$" "$work/events" &&
	grep -q " vm7 restarted (running, pid $(field vm7 pid)): by its restart policy$" "$work/events" ||
	fail "gureum vm events vm7 showed: $(cat "$work/events")"
echo "ok: gureum vm events vm7 showed its end and its restart as they happened"
[[ $(field vm7 last_exit) == "killed by signal 9 (Killed)" ]] ||
	fail "vm7's end was reported as '$(field vm7 last_exit)'"
[[ $(field vm7 pid) != "$victim_pid" ]] || fail "vm7 has its old pid"
after=$(pids_of_all)
diff <(grep -v '^vm7=' <<<"$before") <(grep -v '^vm7=' <<<"$after") >/dev/null ||
	fail "other VMs changed pids when vm7 was killed"
grep -q "vm7: killed by signal 9" "$work/daemon.log" || fail "the daemon's log does not report vm7's kill"
echo "ok: vm7's kill was reported and it was restarted; the others ran on"

echo "--- the daemon restarted under running VMs"
before=$(pids_of_all)
stop_daemon
for i in $(seq $count); do
	pid=$(grep "^vm$i=" <<<"$before" | cut -d= -f2)
	alive "$pid" || fail "vm$i (pid $pid) ended with the daemon"
done
start_daemon
after=$(pids_of_all)
[[ $before == "$after" ]] || fail "after the daemon's restart the VMs' pids differ"
running=$("$gureum" vm list | grep -c " running ")
[[ $running == "$count" ]] || fail "after the daemon's restart $running VMs run, not $count"
victim_pid=$(field vm12 pid)
kill -KILL "$victim_pid"
wait_for vm12 restarts 1
wait_for vm12 state running
[[ $(field vm12 last_exit) == *"exit status is unknown"* ]] ||
	fail "vm12's end after the daemon's restart was reported as '$(field vm12 last_exit)'"
echo "ok: the restarted daemon lost none and watches them still"

echo "--- restart policies"
"$gureum" vm set vm5 --restart never >/dev/null
kill -KILL "$(field vm5 pid)"
wait_for vm5 state failed
[[ $(field vm5 restarts) == 0 ]] || fail "vm5 (restart never) was restarted"
"$gureum" vm create broken --restart always -- --accel emu --kernel "$work/no-such-kernel" >/dev/null
"$gureum" vm start broken >/dev/null
for _ in $(seq 100); do
	[[ $(field broken state) == failed ]] && break
	sleep 0.1
done
[[ $(field broken state) == failed ]] || fail "the broken VM is '$(field broken state)', not failed"
[[ $(field broken restarts) == 5 ]] || fail "the broken VM was restarted $(field broken restarts) times, not 5"
[[ $(field broken last_exit) == *"not again"* ]] || fail "the broken VM's give-up is not said: $(field broken last_exit)"
grep -q "no-such-kernel" "$work/state/logs/broken.log" || fail "the broken VM's log does not say why"
echo "ok: never stays down; a VM that cannot start is given up after 5 restarts"

echo "--- stop, delete and bad requests"
out=$("$gureum" vm delete vm1 2>&1) && fail "a running VM was deleted"
[[ $out == *"stop it first"* ]] || fail "deleting a running VM said: $out"
pid=$(field vm1 pid)
"$gureum" vm stop vm1 --timeout 1 >/dev/null
[[ $(field vm1 state) == stopped ]] || fail "vm1 is not stopped after stop"
alive "$pid" && fail "vm1's process $pid is still there"
grep -q "vm1: the guest did not shut down within 1 s" "$work/daemon.log" ||
	fail "the stop did not go through the power button first"
out=$("$gureum" vm create vm2 -- --memory 16M 2>&1) && fail "a second vm2 was created"
[[ $out == *"exists already"* ]] || fail "a taken name said: $out"
out=$("$gureum" vm create bad/name -- x 2>&1) && fail "a bad name was taken"
out=$("$gureum" vm create x -- --api-socket /tmp/x 2>&1) && fail "--api-socket in args was taken"
[[ $out == *"gureumd sets it"* ]] || fail "a reserved argument said: $out"
out=$("$gureum" vm set vm2 --restart sometimes 2>&1) && fail "a bad policy was taken"
[[ $(field vm2 restart) == on-failure ]] || fail "a refused change changed vm2's policy"
out=$("$gureum" vm start vm2 2>&1) && fail "a running VM was started again"
[[ $out == *"running already"* ]] || fail "starting a running VM said: $out"
# A stop right after a start: the VMM has not yet taken SIGPWR as the power button, and the
# signal must not kill it (the stop goes on to SIGTERM, the VMM's own clean stop).
"$gureum" vm start vm1 >/dev/null
"$gureum" vm stop vm1 --timeout 1 >/dev/null
[[ $(field vm1 last_exit) != *"signal 30"* ]] || fail "a stop right after the start killed the VMM with SIGPWR"
echo "ok: stop, delete and refusals"

echo "--- all stopped and deleted"
for name in $(seq -f 'vm%g' $count) broken; do
	"$gureum" vm stop "$name" --force >/dev/null
	"$gureum" vm delete "$name" >/dev/null
done
[[ $("$gureum" vm --json list) == '{"vms":[]}' ]] || fail "VMs are left: $("$gureum" vm list)"
stop_daemon
echo "ok: gureumd with $count VMs"
