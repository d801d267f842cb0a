#!/usr/bin/env bash
# The control API's contract (#12, docs/api/vm.yaml): the default guest boots on gureum's
# software CPU with a balloon, a user-mode network card, a VNC display, a small raw disk (serial
# d0), its console's input on a FIFO (commands for the guest) and --api-socket, and a
# destination waits with `run --incoming`; contract.mjs (Node, with the npm packages
# scripts/install-deps.sh installs into tests/api) then validates the document, sends every
# operation good and bad requests and checks each reply against the document, migrates the VM
# (one migration cancelled, one to the end in post-copy) and ends with gureum ctl and a stop.
# Here: the source exits 0 after the migration, the destination exits 0 after the stop, and
# both socket files are gone.
# Environment (from meson): GUREUM, GUEST_IMAGE_DIR. Exit 77 (skipped) without the guest
# image; missing Node packages are a failure saying what to run. KEEP_WORK=1 keeps the work
# directory (/tmp/gureum-api-*: console, logs, snapshot). BOOT_SECONDS (240) and NODE_SECONDS
# (300) bound the boot and the requests (meson's timeout is 600). API_DOC checks another copy of
# the document (to see the test catch a drift: a status removed, a field's type changed).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROMPT='gureum-guest# '
BOOT_SECONDS=${BOOT_SECONDS:-240}

: "${GUREUM:?run through meson test}" "${GUEST_IMAGE_DIR:?}"
if [[ ! -r $GUEST_IMAGE_DIR/vmlinuz || ! -r $GUEST_IMAGE_DIR/initramfs.cpio.gz ]]; then
	echo "SKIP: no guest image in $GUEST_IMAGE_DIR (scripts/guest-image.sh builds it)"
	exit 77
fi

WORK=$(mktemp -d /tmp/gureum-api-XXXXXX)
SOURCE_PID=
DEST_PID=
fail() {
	echo "FAIL: $*" >&2
	# The failed checks again, on stderr: a long stdout is often cut to its end where it is shown.
	grep -E '^(FAIL|XPASS) ' "$WORK/contract.out" 2>/dev/null | head -n 20 | sed 's/^/  /' >&2
	for log in source dest; do
		if [[ -f $WORK/$log.log ]]; then
			echo "--- the $log VM's log and console, last lines:" >&2
			tail -n 20 "$WORK/$log.log" >&2
			tail -n 10 "$WORK/$log.console" >&2 2>/dev/null
		fi
	done
	exit 1
}
cleanup() {
	[[ -n $SOURCE_PID ]] && kill -9 "$SOURCE_PID" 2>/dev/null
	[[ -n $DEST_PID ]] && kill -9 "$DEST_PID" 2>/dev/null
	[[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

command -v node >/dev/null && node -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)' ||
	fail "Node.js 20 or later is needed: run scripts/install-deps.sh (as root)"
for pkg in @seriousme/openapi-schema-validator ajv ajv-formats yaml; do
	[[ -e $HERE/node_modules/$pkg/package.json ]] ||
		fail "$HERE/node_modules/$pkg is missing: run scripts/install-deps.sh (npm ci in tests/api)"
done

# A small sparse disk with a serial, for /vm/disks/{disk}/limits (by index 0 and serial d0).
truncate -s 8M "$WORK/d0.img" || fail "cannot make $WORK/d0.img"
# The source's console takes input from a FIFO, so that contract.mjs can have the guest read its
# disk (GET /vm/counters sees it); held open here, so the guest never sees the input end.
mkfifo "$WORK/console.in" || fail "cannot make $WORK/console.in"
exec 3<>"$WORK/console.in"
"$GUREUM" run --name contract --kernel "$GUEST_IMAGE_DIR/vmlinuz" \
	--initrd "$GUEST_IMAGE_DIR/initramfs.cpio.gz" --cmdline "console=ttyS0 quiet" \
	--accel emu --cpus 1,max=2 --memory 256M --memory-hotplug 256M --balloon --net user --display "vnc=unix:$WORK/vnc.sock" \
	--disk "$WORK/d0.img,format=raw,serial=d0" \
	--console stdio --api-socket "$WORK/api.sock" \
	<"$WORK/console.in" >"$WORK/source.console" 2>"$WORK/source.log" &
SOURCE_PID=$!

limit=$((SECONDS + BOOT_SECONDS))
until grep -qF -- "$PROMPT" "$WORK/source.console" 2>/dev/null; do
	((SECONDS < limit)) || fail "no shell prompt within $BOOT_SECONDS s"
	kill -0 "$SOURCE_PID" 2>/dev/null || fail "gureum ended while the guest booted"
	sleep 0.5
done
echo "the guest booted in $SECONDS s"

"$GUREUM" run --incoming "unix:$WORK/mig.sock" --display "vnc=unix:$WORK/vnc2.sock" \
	--console "file:$WORK/dest.console" --api-socket "$WORK/api2.sock" \
	</dev/null >"$WORK/dest.log" 2>&1 &
DEST_PID=$!
for _ in $(seq 100); do
	[[ -S $WORK/mig.sock ]] && break
	sleep 0.1
done
[[ -S $WORK/mig.sock ]] || fail "the destination does not listen on $WORK/mig.sock"

GUREUM=$GUREUM WORK=$WORK SOURCE_SOCK=$WORK/api.sock DEST_SOCK=$WORK/api2.sock \
	SOURCE_CONSOLE_IN=$WORK/console.in SOURCE_CONSOLE=$WORK/source.console \
	MIGRATE_URI=unix:$WORK/mig.sock API_DOC=${API_DOC:-$ROOT/docs/api/vm.yaml} GUEST_IMAGE_DIR=$GUEST_IMAGE_DIR \
	timeout ${NODE_SECONDS:-300} node "$HERE/contract.mjs" | tee "$WORK/contract.out"
node_status=${PIPESTATUS[0]}

# The source left after its migration, the destination after its stop: both with 0.
status=0
for vm in SOURCE DEST; do
	pid_var=${vm}_PID
	pid=${!pid_var}
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "FAIL $vm gureum still runs after the test"
		status=1
		continue
	fi
	wait "$pid"
	code=$?
	printf -v "$pid_var" '%s' ''
	if [[ $code -eq 0 ]]; then
		echo "ok   the ${vm,,} gureum exited 0"
	else
		echo "FAIL the ${vm,,} gureum exited $code"
		status=1
	fi
done
for sock in api.sock api2.sock; do
	if [[ -e $WORK/$sock ]]; then
		echo "FAIL $WORK/$sock is still there"
		status=1
	else
		echo "ok   $sock is gone"
	fi
done
[[ $node_status -eq 0 && $status -eq 0 ]] || fail "contract.mjs: $node_status, the processes: $status"
echo "PASS: the API contract (docs/api/vm.yaml)"
