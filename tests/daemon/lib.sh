# What the gureumd tests share. The sourcing script sets gureum, gureumd (absolute paths),
# work (its directory: state/, run/, daemon.log) and exports GUREUMD_SOCKET=$work/run/gureumd.sock.
daemon_pid=

fail() {
	echo "FAIL: $*" >&2
	echo "--- gureumd's log:" >&2
	cat "$work/daemon.log" >&2 || true
	exit 1
}

# start_daemon [gureumd options]: until it answers (10 s).
start_daemon() {
	"$gureumd" --state-dir "$work/state" --run-dir "$work/run" --gureum "$gureum" "$@" \
		>>"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		"$gureum" vm daemon >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "gureumd did not answer on $GUREUMD_SOCKET"
}

# json_get KEY...: one value of the JSON on stdin, a key (or a list index) at a time ("" when
# a key is absent).
json_get() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]: v = v[int(k)] if isinstance(v, list) else v.get(k, "")
print(v)' "$@"
}

# field NAME KEY: one field of a VM's status ("" when absent).
field() { "$gureum" vm --json info "$1" | json_get "$2"; }

stop_daemon() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" || fail "gureumd did not end cleanly on SIGTERM"
	daemon_pid=
}

# wait_console NAME: until the idle guest's line is in the VM's log (10 s).
wait_console() {
	for _ in $(seq 100); do
		grep -q "idle guest up" "$work/state/logs/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$1: its console never said 'idle guest up'"
}
