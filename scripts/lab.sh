#!/usr/bin/env bash
# Run one nested-lab scenario: L1 is QEMU TCG with nested SVM, inside it KVM is real
# hardware-assisted KVM and the VMM under test boots the default guest (L2).
#   scripts/lab.sh [--smp N] [--timeout SECONDS] [--log FILE] [--attach] [--no-build]
#                  [--vmm gureum|qemu] [--initrd FILE] [--result-disk FILE] SCENARIO
# Prints L1's "LAB-RESULT ..." line and exits 0 only when the scenario passed.
# A scenario's header lines "# lab-smp: N" and "# lab-timeout: S" give its defaults.
# --vmm qemu runs gureum's scenarios with QEMU microvm (proves the scenarios themselves).
# --attach: L1's console is this process's stdin/stdout (besides the log); when stdin is a
# terminal the scenario is told so (lab.interactive=1) and the user talks to the L2 shell.
# --initrd FILE boots L1 with a prebuilt initramfs instead of building the lab's (see
# tests/lab/host-or-lab.sh); --result-disk FILE gives L1 a raw virtio-blk disk (/dev/vda) to
# write results to, independent of its console. Without --attach, L1's console goes to the log file only.
# --timeout 0: no time limit. GUREUM_BIN overrides build/gureum.
set -euo pipefail
LOG_TAG=lab
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

smp=
timeout_s=
vmm=gureum
logfile=
attach=0
build=1
initrd=
result_disk=
while [[ $# -gt 0 ]]; do
	case $1 in
	--smp) smp=$2 && shift 2 ;;
	--timeout) timeout_s=$2 && shift 2 ;;
	--log) logfile=$2 && shift 2 ;;
	--attach) attach=1 && shift ;;
	--no-build) build=0 && shift ;;
	--vmm) vmm=$2 && shift 2 ;;
	--initrd) initrd=$2 && build=0 && shift 2 ;;
	--result-disk) result_disk=$2 && shift 2 ;;
	-*) die "unknown option $1 (see the comment at the top of $0)" ;;
	*) break ;;
	esac
done
[[ $# -eq 1 ]] || die "usage: scripts/lab.sh [--smp N] [--timeout S] [--log FILE] [--attach] [--vmm V] SCENARIO"
scenario=$1
script=$GUREUM_ROOT/tests/lab/scenarios/$scenario.sh
[[ -f $script ]] || die "no scenario tests/lab/scenarios/$scenario.sh"
[[ $vmm == gureum || $vmm == qemu ]] || die "--vmm must be gureum or qemu"
smp=${smp:-$(scenario_header "$script" lab-smp 1)}
timeout_s=${timeout_s:-$(scenario_header "$script" lab-timeout 180)}
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd timeout coreutils

initrd=${initrd:-$(lab_initrd_path)}
# "# lab-extra: NAME...": the scenario also needs out/lab/NAME.cpio for each NAME
# (scripts/lab-initramfs.sh; generic only when asked, it is a second kernel).
extras=$(scenario_extras "$script")
if [[ $build == 1 ]]; then
	[[ " $extras " == *" generic "* ]] && export LAB_BUILD_GENERIC=1
	"$GUREUM_ROOT/scripts/lab-initramfs.sh" "$initrd" >&2
fi
[[ -f $initrd ]] || die "$initrd missing (run scripts/lab-initramfs.sh)"
mkdir -p "$GUREUM_ROOT/out/lab"
if [[ -n $extras ]]; then
	parts=("$initrd")
	for extra in $extras; do
		[[ -f $GUREUM_ROOT/out/lab/$extra.cpio ]] || die "out/lab/$extra.cpio missing (run scripts/lab-initramfs.sh$([[ $extra == generic ]] && echo ' with LAB_BUILD_GENERIC=1'))"
		parts+=("$GUREUM_ROOT/out/lab/$extra.cpio")
	done
	suffix=${extras// /+}
	cat "${parts[@]}" >"$initrd.$suffix.$$"
	mv "$initrd.$suffix.$$" "$initrd.$suffix"
	initrd=$initrd.$suffix
fi
logfile=${logfile:-$GUREUM_ROOT/out/lab/$scenario.log}

# L1 gives up 20 s before the outer timeout, so a hung scenario still reports its own result.
inner_timeout=$((timeout_s > 40 ? timeout_s - 20 : timeout_s))
interactive=0
[[ $attach == 1 && -t 0 ]] && interactive=1
cmdline="console=ttyS0 quiet panic=-1 lab.scenario=$scenario lab.timeout=$inner_timeout"
cmdline+=" lab.interactive=$interactive lab.vmm=$vmm"
# Attached to a user's terminal, L1's own kernel messages are noise: only emergencies.
[[ $attach == 1 ]] && cmdline+=" loglevel=1"
# -display none + a stdio chardev, not -nographic: its Ctrl-A mux would eat the guest's Ctrl-A.
# L1's monitor is a pair of FIFOs (MONITOR.in/.out): when L1 freezes, its CPU and interrupt
# controller state go into the log before it is killed (see dump_frozen_l1).
mondir=$(mktemp -d "${TMPDIR:-/tmp}/gureum-lab-mon.XXXXXX")
trap 'rm -rf "$mondir"' EXIT
mkfifo "$mondir/mon.in" "$mondir/mon.out"
l1=(qemu-system-x86_64 -M q35 -accel tcg,thread=multi -cpu EPYC,+svm,+npt -m 2048 -smp "$smp"
	-nodefaults -no-user-config -display none
	-chardev "pipe,id=mon,path=$mondir/mon" -mon chardev=mon,mode=readline
	-chardev stdio,id=con,signal=off -serial chardev:con -no-reboot
	-kernel "$GUREUM_ROOT/out/guest/vmlinuz" -initrd "$initrd" -append "$cmdline")
if [[ -n $result_disk ]]; then
	l1+=(-drive "file=$result_disk,format=raw,if=none,id=result,cache=unsafe"
		-device virtio-blk-pci,drive=result)
fi

# L1 prints a heartbeat every 15 s (tests/lab/l1-init); a console silent for FREEZE_S means
# L1 froze (seen with TCG: its vCPU halted for good, no timer ever fires again). Kill it so the
# caller can retry in minutes instead of waiting for the whole timeout.
FREEZE_S=${LAB_FREEZE_S:-60}
froze=0
# Once the result is in the log, L1 gets RESULT_GRACE_S to power off: its tty output may be
# stalled (see tests/lab/lib.sh), leaving the scenario blocked in an echo after the result.
RESULT_GRACE_S=30
# dump_frozen_l1 LOGFILE: what L1's vCPUs and interrupt controllers were doing, from the monitor.
dump_frozen_l1() {
	local cmd
	{
		echo "==== L1 froze; QEMU monitor state follows ===="
		for cmd in "info cpus" "info registers -a" "info lapic 0" "info lapic 1" "info pic" \
			"info irq" "x/8i \$pc"; do
			echo "(qemu) $cmd"
			echo "$cmd" >"$mondir/mon.in"
			# The monitor echoes what it was sent with line-editing escapes: drop those lines.
			timeout 2 cat "$mondir/mon.out" 2>/dev/null | tr -d '\r' | grep -a -v $'\e'
		done
		echo "==== end of monitor state ===="
	} >>"$1" 2>&1
}

watch_for_freeze() { # PID LOGFILE
	local result_seen=0
	while kill -0 "$1" 2>/dev/null; do
		sleep 5
		if ((result_seen == 0)) && grep -a -q "LAB-RESULT $scenario " "$2"; then
			result_seen=$(date +%s)
		fi
		if ((result_seen > 0 && $(date +%s) - result_seen > RESULT_GRACE_S)) ||
			(($(date +%s) - $(stat -c %Y "$2") > FREEZE_S)); then
			froze=1
			((result_seen > 0)) || dump_frozen_l1 "$2"
			pkill -KILL -P "$1" 2>/dev/null || true # QEMU, the child of timeout
			kill -KILL "$1" 2>/dev/null || true
			return
		fi
	done
}

log "running scenario '$scenario' in L1 (smp $smp, timeout ${timeout_s}s), log: $logfile"
start=$(date +%s)
set +e
if [[ $attach == 1 ]]; then
	# stdin stays the terminal (QEMU makes it raw), the log keeps a copy of the output.
	timeout --foreground -k 5 "$timeout_s" "${l1[@]}" \
		2> >(grep --line-buffered -v "TCG doesn't support requested feature" >&2) | tee "$logfile"
	rc=${PIPESTATUS[0]}
else
	timeout -k 5 "$timeout_s" "${l1[@]}" </dev/null >"$logfile" 2>&1 &
	l1_pid=$!
	watch_for_freeze "$l1_pid" "$logfile"
	wait "$l1_pid"
	rc=$?
fi
set -e
elapsed=$(($(date +%s) - start))
# Not anchored: after Ctrl-A x the line may still hold the guest prompt.
result=$(tr -d '\r' <"$logfile" | grep -a -o -m1 "LAB-RESULT $scenario .*" || true)
if [[ -z $result ]]; then
	if [[ $froze == 1 ]]; then
		result="LAB-RESULT $scenario FAIL L1 froze (no console output for ${FREEZE_S}s, not even its heartbeat)"
	elif [[ $rc == 124 || $rc == 137 ]]; then
		result="LAB-RESULT $scenario FAIL L1 did not finish within ${timeout_s}s"
	elif panic=$(tr -d '\r' <"$logfile" | grep -a -m1 -E 'BUG:|Kernel panic'); then
		# L1's own kernel died (QEMU TCG emulating SVM under it); its first line says where.
		result="LAB-RESULT $scenario FAIL L1's kernel panicked: ${panic#*] }"
	else
		result="LAB-RESULT $scenario FAIL L1 exited (status $rc) without a result"
	fi
fi
[[ $attach == 1 ]] || echo "$result (${elapsed}s)"
[[ $result == "LAB-RESULT $scenario PASS"* ]]
