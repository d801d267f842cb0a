#!/usr/bin/env bash
# The VMM's seccomp filters (src/vmm/sandbox.h), as a user sees them: a running VMM is
# filtered (/proc says so, its vCPU thread with one filter more), and a forbidden call made
# by a thread of each kind (GUREUM_SECCOMP_SELFTEST) ends the VM with status 159 and a line
# naming the kind of thread and the call, and the call had no effect. On the software CPU, so
# it runs on any host; under ASan too (scripts/check.sh runs the guests suite there).
# usage: seccomp.sh GUREUM IDLE_KERNEL
set -euo pipefail
gureum=$1 kernel=$2
work=$(mktemp -d /tmp/gureum-seccomp.XXXXXX)
vmm=
trap '[[ -n $vmm ]] && kill -KILL $vmm 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -f /tmp/gureum-seccomp-selftest
run=("$gureum" run --accel emu --kernel "$kernel" --memory 16M)

"${run[@]}" --api-socket "$work/api.sock" >"$work/out" 2>"$work/err" &
vmm=$!
for _ in $(seq 100); do grep -q "idle guest up" "$work/out" && break; sleep 0.1; done
grep -q "idle guest up" "$work/out" || fail "the VM did not boot: $(cat "$work/err")"
[[ $(awk '/^Seccomp:/ {print $2}' "/proc/$vmm/status") == 2 ]] || fail "the VMM is not filtered"
main_filters=$(awk '/^Seccomp_filters:/ {print $2}' "/proc/$vmm/status")
most=0
for task in /proc/$vmm/task/*; do
	n=$(awk '/^Seccomp_filters:/ {print $2}' "$task/status")
	((n > most)) && most=$n
done
((most == main_filters + 1)) || fail "no thread has the vCPU filter on top ($main_filters, $most)"
kill -TERM $vmm
wait $vmm || true
vmm=
echo "ok: a running VMM is filtered, its vCPU thread with its own filter on top"

# expect KIND MESSAGE: the self-test of that kind ends the VM with status 159 and MESSAGE.
expect() {
	local kind=$1 message=$2 status=0
	GUREUM_SECCOMP_SELFTEST=$kind "${run[@]}" --api-socket "$work/$kind.sock" \
		>"$work/out" 2>"$work/err" &
	vmm=$!
	if [[ $kind == api ]]; then
		for _ in $(seq 100); do [[ -S $work/$kind.sock ]] && break; sleep 0.1; done
		"$gureum" ctl "$work/$kind.sock" status >/dev/null 2>&1 || true
	fi
	wait $vmm || status=$?
	vmm=
	[[ $status == 159 ]] || fail "$kind: the VMM ended with $status, not 159: $(cat "$work/err")"
	grep -qF "$message" "$work/err" || fail "$kind: no '$message' in: $(cat "$work/err")"
	echo "ok: $kind: $message"
}
expect vcpu "seccomp: a vCPU thread made the forbidden system call open with O_CREAT"
[[ ! -e /tmp/gureum-seccomp-selftest ]] || fail "the vCPU thread's forbidden file was created"
expect api "seccomp: an API thread made the forbidden system call execve"
expect device "seccomp: a device thread made the forbidden system call execve"

out=$("${run[@]}" --seccomp maybe 2>&1) && fail "--seccomp maybe was taken"
[[ $out == *"--seccomp: 'maybe' is not on or off"* ]] || fail "--seccomp maybe said: $out"
echo "ok: --seccomp takes on or off"
