#!/usr/bin/env bash
# gureumd's API contract (docs/api/daemon.yaml): a gureumd of its own in a new directory
# (/tmp/gureum-daemon-api-*: its state, its sockets), its VMs the idle guest
# (tests/guests/idle.c) on the software CPU, so neither /dev/kvm nor the guest image is needed.
# daemon_contract.mjs (Node, with the npm packages scripts/install-deps.sh installs into
# tests/api) validates the document, sends every operation good and bad requests, checks each
# reply against the document and what the VMs' processes do, and ends with every VM stopped and
# deleted. A second gureumd has a long --run-dir, and no cgroups where the host lets a private
# mount namespace hide them (as root). Here: both still run after it (no crash), end 0 on
# SIGTERM, and no process of the test is left (gureumd, any VM's gureum run), even when a
# check fails or the test is killed: each VM process is found by its --api-socket in the
# test's own directory.
# Environment (from meson): GUREUM, GUREUMD, IDLE_KERNEL. Missing Node packages are a failure
# saying what to run. KEEP_WORK=1 keeps the work directory (gureumd's log, the VMs' logs).
# NODE_SECONDS (240) bounds the requests (meson's timeout is 300). API_DOC checks another copy
# of the document (to see the test catch a drift: a status removed, a field's type changed).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

: "${GUREUM:?run through meson test}" "${GUREUMD:?}" "${IDLE_KERNEL:?}"

WORK=$(mktemp -d /tmp/gureum-daemon-api-XXXXXX)
DAEMON_PID=
DAEMON2_PID=
NODE_PID=

# The VM processes of this test: gureum run with --api-socket in this test's directory.
vm_pids() {
	local dir cmd
	for dir in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
		[[ $cmd == *" --api-socket $WORK/"* ]] && echo "${dir#/proc/}"
	done
}

# end_daemon PID: SIGTERM, then SIGKILL after 5 s.
end_daemon() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	{ wait "$1"; } 2>/dev/null
}

cleanup() {
	if [[ -n $NODE_PID ]]; then # first: it starts no VM after this
		kill -9 "$NODE_PID" 2>/dev/null
		{ wait "$NODE_PID"; } 2>/dev/null
	fi
	[[ -n $DAEMON_PID ]] && end_daemon "$DAEMON_PID"
	[[ -n $DAEMON2_PID ]] && end_daemon "$DAEMON2_PID"
	local pid
	for pid in $(vm_pids); do
		kill -9 "$pid" 2>/dev/null
	done
	[[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

fail() {
	echo "FAIL: $*" >&2
	# The failed checks again, on stderr: a long stdout is often cut to its end where it is shown.
	grep -E '^(FAIL|XPASS) ' "$WORK/contract.out" 2>/dev/null | head -n 20 | sed 's/^/  /' >&2
	local log
	for log in gureumd gureumd2; do
		if [[ -f $WORK/$log.log ]]; then
			echo "--- $log.log, last lines:" >&2
			tail -n 30 "$WORK/$log.log" >&2
		fi
	done
	exit 1
}

command -v node >/dev/null && node -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)' ||
	fail "Node.js 20 or later is needed: run scripts/install-deps.sh (as root)"
for pkg in @seriousme/openapi-schema-validator ajv ajv-formats yaml; do
	[[ -e $HERE/node_modules/$pkg/package.json ]] ||
		fail "$HERE/node_modules/$pkg is missing: run scripts/install-deps.sh (npm ci in tests/api)"
done
[[ -r $IDLE_KERNEL ]] || fail "no idle guest at $IDLE_KERNEL (ninja builds it)"

# wait_socket SOCKET PID: until gureumd listens.
wait_socket() {
	for _ in $(seq 100); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || fail "gureumd ended at its start"
		sleep 0.1
	done
	fail "gureumd does not listen on $1"
}

SOCK=$WORK/run/gureumd.sock
"$GUREUMD" --state-dir "$WORK/state" --run-dir "$WORK/run" --gureum "$GUREUM" \
	</dev/null >"$WORK/gureumd.log" 2>&1 &
DAEMON_PID=$!
wait_socket "$SOCK" "$DAEMON_PID"

# The second gureumd: a run directory of over 49 bytes (so that RUN_DIR/vms/NAME.sock of a
# 48-character name is over a unix socket path's 107), and no cgroups where a private mount
# namespace can hide /sys/fs/cgroup under a tmpfs (root; unshare makes the mount private).
RUN_DIR2=$WORK/second-gureumd-run-directory-with-a-long-name
SOCK2=$RUN_DIR2/gureumd.sock
NOCG=0
if unshare -m sh -c 'mount -t tmpfs gureum-test /sys/fs/cgroup' 2>/dev/null; then
	NOCG=1
	unshare -m sh -c 'mount -t tmpfs gureum-test /sys/fs/cgroup && exec "$0" "$@"' \
		"$GUREUMD" --state-dir "$WORK/state2" --run-dir "$RUN_DIR2" --gureum "$GUREUM" \
		</dev/null >"$WORK/gureumd2.log" 2>&1 &
else
	"$GUREUMD" --state-dir "$WORK/state2" --run-dir "$RUN_DIR2" --gureum "$GUREUM" \
		</dev/null >"$WORK/gureumd2.log" 2>&1 &
fi
DAEMON2_PID=$!
wait_socket "$SOCK2" "$DAEMON2_PID"

# In the background, so that a TERM from meson is acted on at once (the trap ends it); node
# itself, so that its pid is the one killed (it bounds its own time: NODE_SECONDS).
GUREUM=$GUREUM API_DOC=${API_DOC:-$ROOT/docs/api/daemon.yaml} SOCK=$SOCK WORK=$WORK \
	STATE_DIR=$WORK/state RUN_DIR=$WORK/run DAEMON_PID=$DAEMON_PID IDLE_KERNEL=$IDLE_KERNEL \
	SOCK2=$SOCK2 RUN_DIR2=$RUN_DIR2 NOCG=$NOCG NODE_SECONDS=${NODE_SECONDS:-240} node "$HERE/daemon_contract.mjs" > >(tee "$WORK/contract.out") &
NODE_PID=$!
wait "$NODE_PID"
node_status=$?
NODE_PID=

status=0
for var in DAEMON_PID DAEMON2_PID; do
	pid=${!var}
	name=gureumd
	[[ $var == DAEMON2_PID ]] && name="the second gureumd"
	if kill -0 "$pid" 2>/dev/null; then
		echo "ok   $name still runs after the requests"
		kill -TERM "$pid"
		wait "$pid"
		code=$?
		printf -v "$var" '%s' ''
		if [[ $code -eq 0 ]]; then
			echo "ok   $name ended with 0 on SIGTERM"
		else
			echo "FAIL $name ended with $code on SIGTERM"
			status=1
		fi
	else
		wait "$pid"
		echo "FAIL $name ended during the requests (status $?)"
		printf -v "$var" '%s' ''
		status=1
	fi
done
left=$(vm_pids)
if [[ -n $left ]]; then
	echo "FAIL VM processes are left: $left"
	status=1
else
	echo "ok   no VM process is left"
fi
[[ $node_status -eq 0 && $status -eq 0 ]] || fail "daemon_contract.mjs: $node_status, gureumd and its VMs: $status"
echo "PASS: gureumd's API contract (docs/api/daemon.yaml)"
