#!/usr/bin/env bash
# gureumd's isolation of its VMs (src/daemon/vm_isolation.h), as an operator sees it, on
# idle guests on the software CPU:
#   - GET /daemon says isolation is on (gureumd runs as root) with its uid base;
#   - each VM's VMM runs as its own uid and gid (the base + its number; no two alike), without
#     capabilities, in a mount namespace of its own whose root is its jail directory
#     STATE-DIR/jails/NAME (owned by that uid, 0700), and GET /vms/NAME says so;
#   - a snapshot asked of the VM's own API lands in its jail; the VM's socket is gone when its
#     jailed VMM ends;
#   - a guest that reboots gets a new VMM from the daemon (exit status 4), not counted as a
#     restart, even with restart=never;
#   - a deleted VM's jail directory stays (the operator's files); gureumd --isolation off runs
#     VMs as root and says why; --isolation on as another user is refused.
# usage: isolation.sh GUREUM GUREUMD IDLE_KERNEL REBOOT_KERNEL
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") kernel=$(realpath "$3") reboot_kernel=$(realpath "$4")
[[ $(id -u) == 0 ]] || { echo "SKIP: isolation needs gureumd to run as root; this test runs as $(id -un)"; exit 77; }
work=$(mktemp -d /tmp/gureumd-isolation.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"
cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	for sock in "$work"/run/vms/*.sock "$work"/run2/vms/*.sock; do
		pkill -KILL -f -- "--api-socket $sock" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
# json PATH-IN-PYTHON ARGS...: one value of a `gureum vm --json` reply.
json() {
	local expr=$1
	shift
	"$gureum" vm --json "$@" | python3 -c "import json, sys; v = json.load(sys.stdin); print($expr)"
}
status_field() { awk -v k="$2:" '$1 == k {$1 = ""; print substr($0, 2)}' "/proc/$1/status"; }

start_daemon
[[ $(json 'v["isolation"]["enabled"]' daemon) == True ]] || fail "GET /daemon: isolation is not on"
base=$(json 'v["isolation"]["uid_base"]' daemon)
[[ $base == 2000000000 ]] || fail "the default uid base is $base"
echo "ok: GET /daemon: isolation on, uid base $base"

for name in a b c; do
	"$gureum" vm create $name -- --accel emu --kernel "$kernel" --memory 16M >/dev/null
	"$gureum" vm start $name >/dev/null
done
declare -A uids
for name in a b c; do
	wait_console $name
	pid=$(json 'v["pid"]' info $name)
	uid=$(json 'v["isolation"]["uid"]' info $name)
	jail=$(json 'v["isolation"]["jail"]' info $name)
	((uid > base)) || fail "$name: uid $uid is not above the base"
	[[ -z ${uids[$uid]:-} ]] || fail "$name has the uid of ${uids[$uid]}"
	uids[$uid]=$name
	[[ $jail == "$work/state/jails/$name" ]] || fail "$name: its jail is $jail"
	[[ $(stat -c '%u %g %a' "$jail") == "$uid $uid 700" ]] ||
		fail "$name: its jail is $(stat -c '%u %g %a' "$jail")"
	[[ $(status_field "$pid" Uid) == "$uid $uid $uid $uid" ]] ||
		fail "$name: its VMM's Uid is $(status_field "$pid" Uid), not $uid"
	[[ $(status_field "$pid" Gid) == "$uid $uid $uid $uid" ]] || fail "$name: its VMM's Gid"
	[[ $(status_field "$pid" CapEff) == 0000000000000000 ]] || fail "$name: capabilities left"
	[[ $(readlink "/proc/$pid/ns/mnt") != $(readlink /proc/self/ns/mnt) ]] ||
		fail "$name: its VMM shares the host's mount namespace"
	[[ $(stat -L -c '%d %i' "/proc/$pid/root/.") == $(stat -c '%d %i' "$jail") ]] ||
		fail "$name: its VMM's root is not its jail"
	[[ ! -e /proc/$pid/root/usr ]] || fail "$name: the host's /usr shows in its jail"
done
echo "ok: a, b and c run as uids ${!uids[*]}, each in its own jail and mount namespace"

"$gureum" vm ctl a snapshot /snap >/dev/null || fail "a snapshot of a failed"
[[ -s $work/state/jails/a/snap/memory ]] || fail "a's snapshot is not in its jail"
echo "ok: a's snapshot to /snap is in $work/state/jails/a/snap"
"$gureum" vm stop a --force >/dev/null
[[ ! -e $work/run/vms/a.sock ]] || fail "a's API socket stayed after its jailed VMM ended"
echo "ok: a stopped, its socket removed by the daemon"

"$gureum" vm create rebooter --restart never -- --accel emu --kernel "$reboot_kernel" \
	--memory 16M >/dev/null
"$gureum" vm start rebooter >/dev/null
first=$(json 'v.get("pid", "")' info rebooter)
for _ in $(seq 50); do
	[[ $(json 'v.get("last_exit", "")' info rebooter) == "the guest rebooted"* ]] && break
	sleep 0.1
done
[[ $(json 'v.get("last_exit", "")' info rebooter) == "the guest rebooted; its jailed VMM exited with status 4 for a new one" ]] ||
	fail "rebooter: last_exit is '$(json 'v.get("last_exit", "")' info rebooter)'"
sleep 0.5
[[ $(json 'v["state"]' info rebooter) == running ]] || fail "rebooter is not running after its reboots"
[[ $(json 'v["restarts"]' info rebooter) == 0 ]] || fail "rebooter's reboots were counted as restarts"
[[ $(json 'v.get("pid", "")' info rebooter) != "$first" ]] || fail "rebooter kept its first VMM"
"$gureum" vm stop rebooter --force >/dev/null
[[ $(json 'v["state"]' info rebooter) == stopped ]] || fail "rebooter did not stop"
echo "ok: a rebooting guest gets new VMMs (restart=never, 0 restarts counted), and stops"

"$gureum" vm delete b 2>/dev/null && fail "a running VM was deleted"
"$gureum" vm stop b --force >/dev/null
"$gureum" vm delete b >/dev/null
[[ -d $work/state/jails/b ]] || fail "b's jail directory went with it"
echo "ok: a deleted VM's jail directory stays"
stop_daemon

start_daemon --isolation off
[[ $(json 'v["isolation"]["enabled"]' daemon) == False ]] || fail "--isolation off: still on"
[[ $(json 'v["isolation"]["reason"]' daemon) == "gureumd was started with --isolation off" ]] ||
	fail "--isolation off: the reason is '$(json 'v["isolation"]["reason"]' daemon)'"
"$gureum" vm start a >/dev/null
wait_console a
pid=$(json 'v["pid"]' info a)
[[ $(status_field "$pid" Uid) == "0 0 0 0" ]] || fail "--isolation off: a runs as $(status_field "$pid" Uid)"
[[ $(json '"isolation" in v' info a) == False ]] || fail "--isolation off: GET /vms/a shows isolation"
"$gureum" vm stop a --force >/dev/null
stop_daemon
echo "ok: --isolation off runs VMs as root and says why"

chmod 755 "$work"
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$gureumd" --state-dir "$work/s2" \
	--run-dir "$work/run2" --gureum "$gureum" --isolation on 2>&1) && fail "--isolation on ran as nobody"
[[ $out == *"--isolation on needs gureumd to run as root"* ]] || fail "--isolation on as nobody said: $out"
echo "ok: --isolation on as another user is refused: it says why"
