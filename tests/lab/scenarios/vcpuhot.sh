# vCPU hotplug (--cpus 1,max=3; gureum ctl SOCK cpus N) with the Debian kernel:
# - at boot the guest counts 3 possible CPUs and 1 present;
# - cpus 3: the guest's ACPI adds CPUs 1 and 2 (present 0-2); onlined through sysfs they run
#   (/proc/cpuinfo shows 3 processors, and each added CPU's own time in /proc/stat grows under
#   a busy loop pinned to it);
# - cpus 1: the guest offlines and ejects both (online 0, present 0; ctl says 1 present, none
#   being removed);
# - cpus 2: CPU 1 comes back (a vCPU the guest ejected is started again) and onlines;
# - a snapshot then records 2 vCPUs of at most 3 (cpus "2,max=3" in its config);
# - the power button ends it, exit status 0.
# lab-smp: 1
# lab-timeout: 600
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (vCPU hotplug); skipped for $LAB_VMM"

SOCK=/run/vm-cpuhot.sock
SNAP=/tmp/cpuhot-snap
ctl() { /lab/bin/gureum ctl "$SOCK" "$@"; }
sysfs() { vm_run 30 "cat /sys/devices/system/cpu/$1" | tr -d ' '; }
# wait_sysfs FILE VALUE WHAT: polls the guest's /sys/devices/system/cpu/FILE for VALUE.
wait_sysfs() {
	for _ in $(seq 1 30); do
		[ "$(sysfs "$1")" = "$2" ] && return 0
		sleep 1
	done
	lab_fail "$3: $1 is '$(sysfs "$1")', not '$2' after 30 s; VMM: $(tail -n 5 "$VM/stderr" | tr '\n' ' ')"
}
# cpu_ticks N: CPU N's user+system time in the guest's /proc/stat.
cpu_ticks() { vm_run 30 "awk '\$1 == \"cpu$1\" { print \$2 + \$4 }' /proc/stat"; }

vm_boot cpuhot "$(gureum_cmd 1,max=3 --api-socket $SOCK)"
[ "$(sysfs possible)" = 0-2 ] || lab_fail "possible CPUs at boot: $(sysfs possible), not 0-2"
[ "$(sysfs present)" = 0 ] || lab_fail "present CPUs at boot: $(sysfs present), not 0"

out=$(ctl cpus 3) || lab_fail "cpus 3 refused: $out"
wait_sysfs present 0-2 "after cpus 3"
vm_run 30 "echo 1 >/sys/devices/system/cpu/cpu1/online && echo 1 >/sys/devices/system/cpu/cpu2/online" >/dev/null ||
	lab_fail "the guest could not online CPUs 1 and 2: $(vm_run 30 'dmesg | tail -n 5')"
[ "$(sysfs online)" = 0-2 ] || lab_fail "online after onlining: $(sysfs online)"
n=$(vm_run 30 "grep -c ^processor /proc/cpuinfo")
[ "$n" = 3 ] || lab_fail "/proc/cpuinfo shows $n processors, not 3"
# A busy loop on each added CPU: their own time grows, so they really run. Each loop spins for
# 4-5 s of the guest's uptime, not a count of rounds: how much CPU time a fixed count takes
# depends on how fast the host is (20000 rounds once took under the 20 ticks asked for here).
before1=$(cpu_ticks 1) before2=$(cpu_ticks 2)
vm_run 60 "for c in 1 2; do (taskset -c \$c sh -c 'read up rest </proc/uptime; end=\$((\${up%.*} + 5)); while [ \${up%.*} -lt \$end ]; do read up rest </proc/uptime; done') & done; wait" >/dev/null
after1=$(cpu_ticks 1) after2=$(cpu_ticks 2)
[ "$after1" -gt "$((before1 + 20))" ] && [ "$after2" -gt "$((before2 + 20))" ] ||
	lab_fail "the added CPUs did not run the pinned loops (cpu1 $before1 -> $after1, cpu2 $before2 -> $after2 ticks)"
DETAIL="1 -> 3 vCPUs: present 0-2, onlined, cpuinfo 3, pinned loops ran on both (cpu1 +$((after1 - before1)), cpu2 +$((after2 - before2)) ticks);"

out=$(ctl cpus 1) || lab_fail "cpus 1 refused: $out"
wait_sysfs present 0 "after cpus 1"
[ "$(sysfs online)" = 0 ] || lab_fail "online after cpus 1: $(sysfs online)"
ctl cpus | grep -q "1 present, at most 3; 0 being added, 0 being removed" ||
	lab_fail "ctl cpus after the removal: $(ctl cpus)"
DETAIL="$DETAIL 3 -> 1: offlined and ejected by the guest;"

out=$(ctl cpus 2) || lab_fail "cpus 2 refused: $out"
wait_sysfs present 0-1 "after cpus 2"
vm_run 30 "echo 1 >/sys/devices/system/cpu/cpu1/online" >/dev/null || lab_fail "CPU 1 did not come online again"
n=$(vm_run 30 "grep -c ^processor /proc/cpuinfo")
[ "$n" = 2 ] || lab_fail "/proc/cpuinfo shows $n processors after re-adding, not 2"
DETAIL="$DETAIL 1 -> 2: the ejected vCPU came back online;"

rm -rf "$SNAP"
out=$(ctl snapshot "$SNAP") || lab_fail "snapshot with 2 of 3 vCPUs refused: $out"
grep -q '"cpus": "2,max=3"' "$SNAP/config.json" || lab_fail "the snapshot's config: $(cat "$SNAP/config.json")"
rm -rf "$SNAP"
DETAIL="$DETAIL a snapshot records cpus=2,max=3;"

ctl power-button >/dev/null || lab_fail "power-button refused"
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after the power button"
lab_pass "$DETAIL powered off by its power button"
