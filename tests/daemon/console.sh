#!/usr/bin/env bash
# gureum vm console: a terminal attached to a VM's console through gureumd, on a guest that
# echoes what it is sent (tests/guests/realmode_echo.S) on the software CPU. Checks:
#   - GET /vms/NAME names its console socket (0600) while it runs;
#   - a client is first shown the output it missed (the scrollback: the guest's banner);
#   - what the client sends reaches the guest, and the guest's answer reaches the client;
#   - a second client at the same time is told the console is busy;
#   - the client's end detaches it: the VM runs on (same pid), the log says so, and a new
#     client attaches again, shown the first one's echo first; the socket is gone once the VM
#     has stopped;
#   - a console of a VM that does not run is refused with a sentence.
# usage: console.sh GUREUM GUREUMD ECHO_BIOS
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") bios=$(realpath "$3")
work=$(mktemp -d /tmp/gureumd-console.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"
client=
cleanup() {
	[[ -n $client ]] && kill "$client" 2>/dev/null
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	pkill -KILL -f -- "--api-socket $work/run/vms/" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# wait_text FILE TEXT: until FILE has TEXT (10 s).
wait_text() {
	for _ in $(seq 100); do
		grep -q -F -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1: $(cat "$1" 2>/dev/null)"
}

start_daemon
"$gureum" vm create echo -- --accel emu --bios "$bios" --memory 16M >/dev/null
out=$("$gureum" vm console echo 2>&1) && fail "a console of a stopped VM attached"
[[ $out == *"cannot attach to echo's console"*"gureum vm start echo"* ]] ||
	fail "attaching to a stopped VM said: $out"
echo "ok: a stopped VM's console is refused: $out"

"$gureum" vm start echo >/dev/null
sock=$(field echo console_socket)
[[ $sock == "$work/run/vms/echo.con" ]] || fail "the console socket is '$sock'"
wait_text "$work/state/logs/echo.log" "echo ready"
[[ -S $sock && $(stat -c %a "$sock") == 600 ]] || fail "$sock is not a 0600 socket"
pid=$(field echo pid)

mkfifo "$work/in"
"$gureum" vm console echo <"$work/in" >"$work/out" 2>"$work/err" &
client=$!
exec 3>"$work/in"
wait_text "$work/state/logs/echo.log" "console: a client attached"
printf 'hello-console' >&3
wait_text "$work/out" "hello-console"
[[ $(head -c 200 "$work/out") == *"echo ready"* ]] ||
	fail "the client was not first shown the output from before it attached: $(cat "$work/out")"
echo "ok: the client was shown the guest's banner from before it came"
echo "ok: the client's bytes reached the guest, and its echo came back"

second=$("$gureum" vm console echo </dev/null 2>&1) || true
[[ $second == *"this console has a client already"* ]] || fail "a second client got: $second"
echo "ok: a second client is told the console is busy"

exec 3>&-
wait "$client" || fail "the console client ended with $?: $(cat "$work/err")"
client=
wait_text "$work/state/logs/echo.log" "console: the client detached"
[[ $(field echo state) == running && $(field echo pid) == "$pid" ]] ||
	fail "the VM did not run on after the client detached"
echo "ok: the client's end detached it; the VM runs on (pid $pid)"

(printf 'again'; sleep 2) | timeout 10 "$gureum" vm console echo >"$work/out2" 2>&1 || true
grep -q "again" "$work/out2" || fail "a new client did not get its echo: $(cat "$work/out2")"
[[ $(tr -d '\0' <"$work/out2") == *"hello-console"*"again"* ]] ||
	fail "a new client was not first shown the earlier output: $(cat "$work/out2")"
echo "ok: a new client attaches after the first, shown the first one's echo before its own"

"$gureum" vm stop echo --force >/dev/null
[[ ! -e $sock ]] || fail "the console socket stayed after the VM stopped"
echo "ok: the console socket is gone once the VM has stopped"
