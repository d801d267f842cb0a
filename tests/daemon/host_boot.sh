#!/usr/bin/env bash
# gureumd after the host restarts: the store keeps the boot it last ran in
# (/proc/sys/kernel/random/boot_id), and a daemon that starts in a later boot takes none of the
# recorded processes for its VMs' (a pid of an earlier boot may be any process now). The VMs
# that ran come back by their restart policies, and each says why it ended; the autostart VMs
# start whatever they did before and whatever their policies. The host's restart
# is played by killing the VMMs while no daemon runs and giving the store another boot id, as
# the real one would have; the same kill in the same boot is told apart. Checks:
#   - same boot: a VM killed while no daemon watched is "ended while no gureumd watched it"
#     and restarted by its policy (always); a stopped autostart VM stays stopped;
#   - a later boot: "the host restarted while it ran" for each VM that ran; restart=always
#     and on-failure come back with new processes, restart=never is left failed, saying so;
#     an autostart VM with restart=never that ran, and one that never ran, both run (restarts
#     0);
#   - the store then holds this boot's id again.
# usage: host_boot.sh GUREUM GUREUMD IDLE_PAYLOAD
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") idle=$(realpath "$3")
work=$(mktemp -d /tmp/gureumd-boot.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"
cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	pkill -KILL -f -- "--api-socket $work/run/vms/" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# store_sql SQL: run on the daemon's store while no daemon runs (python3's sqlite3 module).
store_sql() { python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute(sys.argv[2]): print(*row)
db.commit()' "$work/state/gureum.db" "$1"; }
# kill_vmms NAME...: as the host's end would, with no daemon watching.
kill_vmms() {
	local name pid
	for name in "$@"; do
		pid=$(store_sql "SELECT pid FROM vms WHERE name = '$name'")
		[[ $pid -gt 0 ]] || fail "$name has no recorded process"
		kill -KILL "$pid"
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	done
}
wait_running() { # NAME: until it runs a process other than the one killed (10 s)
	local limit=$((SECONDS + 10))
	while ((SECONDS < limit)); do
		[[ $(field "$1" state) == running && $(field "$1" pid) != "${2:-}" ]] && return 0
		sleep 0.1
	done
	fail "$1 did not come back: $("$gureum" vm --json info "$1")"
}

start_daemon
for policy in always on-failure never; do
	"$gureum" vm create "$policy" --restart "$policy" -- --accel emu --kernel "$idle" \
		--memory 16M >/dev/null
	"$gureum" vm start "$policy" >/dev/null
	wait_console "$policy"
done
# autostart: one that runs (its policy would leave it down), one never started.
"$gureum" vm create auto-ran --restart never --autostart on -- --accel emu --kernel "$idle" \
	--memory 16M >/dev/null
"$gureum" vm start auto-ran >/dev/null
wait_console auto-ran
"$gureum" vm create auto-idle --autostart on -- --accel emu --kernel "$idle" --memory 16M >/dev/null
"$gureum" vm info auto-idle | grep -q "autostart: on" ||
	fail "vm info does not say autostart: $("$gureum" vm info auto-idle)"
boot_id=$(cat /proc/sys/kernel/random/boot_id)
[[ $(store_sql "SELECT value FROM host WHERE key = 'boot_id'") == "$boot_id" ]] ||
	fail "the store does not hold this boot's id"

stop_daemon
old=$(store_sql "SELECT pid FROM vms WHERE name = 'always'")
kill_vmms always
start_daemon
wait_running always "$old"
[[ $(field always last_exit) == "ended while no gureumd watched it (pid $old)" ]] ||
	fail "same boot: always's last exit is '$(field always last_exit)'"
[[ $(field auto-idle state) == stopped ]] || fail "same boot: auto-idle was started: $(field auto-idle state)"
echo "ok: in the same boot, a VMM killed while no daemon watched is told as such, and restarted; autostart started nothing"

stop_daemon
declare -A before
for policy in always on-failure never auto-ran; do
	before[$policy]=$(store_sql "SELECT pid FROM vms WHERE name = '$policy'")
done
kill_vmms always on-failure never auto-ran
store_sql "UPDATE host SET value = 'an-earlier-boot' WHERE key = 'boot_id'"
start_daemon
for policy in always on-failure; do
	wait_running "$policy" "${before[$policy]}"
	[[ $(field "$policy" last_exit) == "the host restarted while it ran (pid ${before[$policy]})" ]] ||
		fail "$policy's last exit is '$(field "$policy" last_exit)'"
done
[[ $(field never state) == failed &&
	$(field never last_exit) == "the host restarted while it ran (pid ${before[never]})" ]] ||
	fail "never: $("$gureum" vm --json info never)"
grep -q "the host has booted since the last gureumd ran" "$work/daemon.log" ||
	fail "the daemon did not say the host had booted"
[[ $(store_sql "SELECT value FROM host WHERE key = 'boot_id'") == "$boot_id" ]] ||
	fail "the store does not hold this boot's id again"
echo "ok: after the host's restart, always and on-failure came back, never is failed; each says the host restarted"
wait_running auto-ran "${before[auto-ran]}"
[[ $(field auto-ran last_exit) == "the host restarted while it ran (pid ${before[auto-ran]})" &&
	$(field auto-ran restarts) == 0 ]] || fail "auto-ran: $("$gureum" vm --json info auto-ran)"
wait_running auto-idle
wait_console auto-idle
echo "ok: after the host's restart, both autostart VMs run (the one with restart=never that ran, and the one never started)"
for policy in always on-failure never auto-ran auto-idle; do
	"$gureum" vm stop "$policy" --force >/dev/null 2>&1 || true
	"$gureum" vm delete "$policy" >/dev/null
done
stop_daemon
echo "PASS: host boot"
