#!/usr/bin/env bash
# gureumd's cgroups: a VM's process runs in a cgroup of its own with the limits of its
# definition, and a change while it runs takes effect at once. What the user notices is
# measured: a VM whose guest spins (realmode_echo polling its UART on the software CPU) gets
# at most about its --cpu-percent of a host CPU, and far more once the limit is lifted. The
# cgroup files hold the values, the VM's pid is in the cgroup, and the cgroup is removed when
# the VM ends. On a host that gives gureumd no cgroups the test is skipped, saying why.
# usage: cgroups.sh GUREUM GUREUMD SPIN_FIRMWARE
set -euo pipefail
gureum=$(realpath "$1") gureumd=$(realpath "$2") spin=$(realpath "$3")
work=$(mktemp -d /tmp/gureumd-cgroups.XXXXXX)
export GUREUMD_SOCKET=$work/run/gureumd.sock
. "$(dirname "$0")/lib.sh"

cleanup() {
	[[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	for sock in "$work"/run/vms/*.sock; do
		[[ -e $sock ]] && pkill -KILL -f -- "--api-socket $sock" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

"$gureumd" --state-dir "$work/state" --run-dir "$work/run" --gureum "$gureum" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do "$gureum" vm daemon >/dev/null 2>&1 && break; sleep 0.1; done
version=$("$gureum" vm --json daemon | json_get cgroups)
if [[ $version == none ]]; then
	echo "SKIP: this host gives gureumd no cgroups: $(grep -o 'no cgroups.*' "$work/daemon.log")"
	exit 77
fi
echo "cgroups $version"

# read_limit DIR V1-FILE V2-FILE
read_limit() { if [[ $version == v1 ]]; then cat "$1/$2"; else cat "$1/$3"; fi; }

"$gureum" vm create spin --cpu-percent 10 --memory-max 256M -- --accel emu --bios "$spin" \
	--memory 16M >/dev/null
"$gureum" vm start spin >/dev/null
status=$("$gureum" vm --json info spin)
pid=$(json_get pid <<<"$status")
mapfile -t dirs < <(json_get cgroups <<<"$status" | tr -d "[]',\"" | tr ' ' '\n' | grep .)
[[ ${#dirs[@]} -ge 1 ]] || fail "the running VM's status names no cgroup: $status"
for dir in "${dirs[@]}"; do
	grep -qx "$pid" "$dir/cgroup.procs" || fail "the VM's pid $pid is not in $dir"
done
cpu_dir=${dirs[0]} memory_dir=${dirs[1]:-${dirs[0]}} # v1: cpu, memory, blkio
if [[ $version == v1 ]]; then
	[[ $(cat "$cpu_dir/cpu.cfs_quota_us") == 10000 ]] || fail "cpu.cfs_quota_us is $(cat "$cpu_dir/cpu.cfs_quota_us")"
	[[ $(cat "$memory_dir/memory.limit_in_bytes") == 268435456 ]] || fail "memory.limit_in_bytes is wrong"
else
	[[ $(cat "$cpu_dir/cpu.max") == "10000 100000" ]] || fail "cpu.max is $(cat "$cpu_dir/cpu.max")"
	[[ $(cat "$memory_dir/memory.max") == 268435456 ]] || fail "memory.max is wrong"
fi
echo "ok: the VM runs in its cgroup with its limits"

# cpu_share PID SECONDS: the share of one host CPU the process used meanwhile, in percent.
cpu_share() {
	local hz before after
	hz=$(getconf CLK_TCK)
	before=$(awk '{print $14 + $15}' <(sed 's/.*) //; s/^/x x /' "/proc/$1/stat"))
	sleep "$2"
	after=$(awk '{print $14 + $15}' <(sed 's/.*) //; s/^/x x /' "/proc/$1/stat"))
	echo $(((after - before) * 100 / hz / $2))
}
sleep 1 # past the boot
limited=$(cpu_share "$pid" 3)
echo "spinning guest at --cpu-percent 10: $limited% of a CPU"
((limited <= 15)) || fail "the VM used $limited% of a CPU under a 10% limit"

"$gureum" vm set spin --cpu-percent 0 >/dev/null
[[ $(read_limit "$cpu_dir" cpu.cfs_quota_us cpu.max) == @(-1|"max 100000") ]] ||
	fail "lifting the limit left $(read_limit "$cpu_dir" cpu.cfs_quota_us cpu.max)"
free=$(cpu_share "$pid" 3)
echo "the same guest with the limit lifted at runtime: $free% of a CPU"
((free >= 3 * limited && free >= 30)) || fail "lifting the limit gave only $free% (limited: $limited%)"

"$gureum" vm set spin --cpu-weight 300 --memory-max 512M >/dev/null
if [[ $version == v1 ]]; then
	[[ $(cat "$cpu_dir/cpu.shares") == 3072 ]] || fail "cpu.shares is $(cat "$cpu_dir/cpu.shares")"
	[[ $(cat "$memory_dir/memory.limit_in_bytes") == 536870912 ]] || fail "the memory limit did not change"
else
	[[ $(cat "$cpu_dir/cpu.weight") == 300 ]] || fail "cpu.weight is $(cat "$cpu_dir/cpu.weight")"
	[[ $(cat "$memory_dir/memory.max") == 536870912 ]] || fail "the memory limit did not change"
fi
[[ $("$gureum" vm --json info spin | json_get limits memory_max) == 536870912 ]] || fail "the status does not show the new memory limit"
echo "ok: limits changed at runtime"

"$gureum" vm stop spin --force >/dev/null
for dir in "${dirs[@]}"; do
	[[ ! -d $dir ]] || fail "$dir is left after the VM ended"
done
out=$("$gureum" vm set spin --memory-max 1M 2>&1) && fail "a 1M memory limit was taken"
[[ $out == *"at least 16M"* ]] || fail "a tiny memory limit said: $out"
"$gureum" vm delete spin >/dev/null
echo "ok: the cgroup went with the VM"
