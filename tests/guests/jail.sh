#!/usr/bin/env bash
# The VMM's jail and change of user (src/vmm/jail.h), as a user sees them. On the software
# CPU, so it runs on any host; under ASan too (scripts/check.sh runs the guests suite there).
#   - a running VMM under --jail DIR --user U runs as U (uid, gid, no groups, no
#     capabilities, no_new_privs), in a mount namespace of its own whose root holds DIR's
#     files and a /dev and /etc of its own, and nothing else of the host's (no /usr);
#   - its API still answers; a snapshot written to /snap lands in DIR/snap, owned by U; one
#     to a host path outside DIR is refused and writes nothing there;
#   - a guest reboot ends the jailed VMM with status 4 and a sentence;
#   - --jail without root, a missing DIR, a bad --user: refused with a sentence.
# usage: jail.sh GUREUM IDLE_KERNEL REBOOT_KERNEL
set -euo pipefail
gureum=$1 kernel=$2 reboot_kernel=$3
[[ $(id -u) == 0 ]] || { echo "SKIP: --jail needs root, and this test runs as $(id -un)"; exit 77; }
work=$(mktemp -d /tmp/gureum-jail.XXXXXX)
vmm=
trap '[[ -n $vmm ]] && kill -KILL $vmm 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
user=2000000999
jail=$work/jail
mkdir -p "$jail" "$work/outside"
echo "the VM's own file" >"$jail/marker"
chown "$user:$user" "$jail"
run=("$gureum" run --accel emu --memory 16M)

"${run[@]}" --kernel "$kernel" --api-socket "$work/api.sock" --jail "$jail" --user "$user" \
	>"$work/out" 2>"$work/err" &
vmm=$!
for _ in $(seq 100); do grep -q "idle guest up" "$work/out" && break; sleep 0.1; done
grep -q "idle guest up" "$work/out" || fail "the VM did not boot: $(cat "$work/err")"
grep -q "jail: the VMM's file system is $jail; it runs as uid $user, gid $user" "$work/err" ||
	fail "no jail line in: $(cat "$work/err")"

status_field() { awk -v k="$1:" '$1 == k {$1 = ""; print substr($0, 2)}' "/proc/$vmm/status"; }
[[ $(status_field Uid) == "$user $user $user $user" ]] || fail "Uid: $(status_field Uid)"
[[ $(status_field Gid) == "$user $user $user $user" ]] || fail "Gid: $(status_field Gid)"
[[ -z $(status_field Groups) ]] || fail "supplementary groups left: $(status_field Groups)"
[[ $(status_field CapEff) == 0000000000000000 ]] || fail "capabilities left: $(status_field CapEff)"
[[ $(status_field CapPrm) == 0000000000000000 ]] || fail "permitted capabilities left"
[[ $(status_field NoNewPrivs) == 1 ]] || fail "no_new_privs is not set"
echo "ok: the VMM runs as uid and gid $user, without groups or capabilities"

[[ $(readlink "/proc/$vmm/ns/mnt") != $(readlink /proc/self/ns/mnt) ]] ||
	fail "the VMM shares the host's mount namespace"
root=/proc/$vmm/root
[[ $(cat "$root/marker") == "the VM's own file" ]] || fail "the jail's root is not $jail"
# A sanitizer build binds /proc in for LeakSanitizer, and says so.
proc_allowed=false
grep -q "jail: /proc bound in, for the sanitizer" "$work/err" && proc_allowed=true
[[ ! -e $root/usr && ! -e $root/tmp ]] && { $proc_allowed || [[ ! -e $root/proc ]]; } ||
	fail "the host's file system shows in the jail: $(ls "$root")"
[[ -c $root/dev/null && -c $root/dev/urandom ]] || fail "the jail has no /dev/null or urandom"
[[ $(ls "$root/dev" | grep -cv '^net$') -le 8 ]] || fail "the jail's /dev has more: $(ls "$root/dev")"
# The mount points the jail made do not show on the host: its /dev there is an empty directory.
[[ -z $(ls -A "$jail/dev") ]] || fail "the jail's /dev leaked onto the host: $(ls "$jail/dev")"
echo "ok: the VMM's root is its jail: $(ls "$root" | tr '\n' ' ')"

"$gureum" ctl "$work/api.sock" status | grep -q "state: *running" || fail "the API does not answer"
"$gureum" ctl "$work/api.sock" snapshot /snap >/dev/null || fail "a snapshot in the jail failed"
[[ -s $jail/snap/memory && $(stat -c %u "$jail/snap/memory") == "$user" ]] ||
	fail "the snapshot is not in $jail/snap, owned by $user"
out=$("$gureum" ctl "$work/api.sock" snapshot "$work/outside/snap" 2>&1) &&
	fail "a snapshot to a host path outside the jail was taken"
[[ ! -e $work/outside/snap ]] || fail "the VMM wrote outside its jail"
echo "ok: a snapshot lands in the jail; one outside it is refused: $out"
kill -TERM $vmm
wait $vmm || true
vmm=

status=0
"${run[@]}" --kernel "$reboot_kernel" --jail "$jail" --user "$user" >"$work/out" 2>"$work/err" ||
	status=$?
[[ $status == 4 ]] || fail "a reboot in the jail ended with $status, not 4: $(cat "$work/err")"
grep -q "a VMM in its jail cannot open the VM's files again, so it exits with status 4" \
	"$work/err" || fail "no reboot sentence in: $(cat "$work/err")"
echo "ok: a guest reboot ends the jailed VMM with status 4"

expect_refusal() {
	local message=$1
	shift
	local out
	out=$("$@" 2>&1) && fail "$* was taken"
	[[ $out == *"$message"* ]] || fail "$*: no '$message' in: $out"
	echo "ok: refused: $message"
}
chmod 755 "$work"
expect_refusal "--jail needs root (CAP_SYS_ADMIN)" \
	setpriv --reuid 65534 --regid 65534 --clear-groups "${run[@]}" --kernel "$kernel" --jail "$jail"
expect_refusal "--jail: $work/missing is not a directory" \
	"${run[@]}" --kernel "$kernel" --jail "$work/missing"
expect_refusal "--user: 'nobody' is not UID or UID:GID" \
	"${run[@]}" --kernel "$kernel" --user nobody
expect_refusal "--jail: 'relative' is not an absolute directory path" \
	"${run[@]}" --kernel "$kernel" --jail relative
