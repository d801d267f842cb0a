#!/usr/bin/env bash
# Nested-lab tests: each scenario boots L1 (QEMU TCG with nested SVM) and, inside it, the
# default guest under the VMM (build/gureum; with --vmm qemu, Debian's QEMU microvm).
#   tests/lab/run.sh [--vmm gureum|qemu] [--accel kvm|emu] [--repeat N] [scenario...]
#   (default: peer boot1 boot2 reboot bigmem pvh vrng vblk vnet vhost vmq vuser vconsole vballoon vpause vratelimit vcpuhot vhotplug vmemhot vsnapshot vdisksnap vjail vmigrate vmignet vpostcopy vcross vvsock vvhostvsock vswitch vdisplay vbochs vinput vall)
# One line per scenario run, then "N passed, N failed, N skipped" (plus ", N retried" when an
# L1 hung and its scenario was run again); exit 0 only if all passed. A lab that cannot run
# (no QEMU, no guest image, no gureum binary) makes scenarios FAIL. --repeat N runs each
# scenario N times in a row (to measure how often L1 hangs: the retries are counted).
# --accel emu runs the scenarios on this host, without L1, with gureum's software CPU
# (scripts/lab-direct.sh; needs root); the default, kvm, runs them in L1 on nested KVM.
set -euo pipefail
LOG_TAG=lab-tests
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lab-common.sh"

vmm=gureum
accel=kvm
repeat=1
while [[ ${1:-} == --* ]]; do
	case $1 in
	--vmm) vmm=${2:?--vmm needs gureum or qemu} ;;
	--repeat) repeat=${2:?--repeat needs a count} ;;
	--accel) accel=${2:?--accel needs kvm or emu} ;;
	*) die "unknown option $1 (see the comment at the top of $0)" ;;
	esac
	shift 2
done
scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 && $accel == emu ]]; then
	# Without L1 there is no KVM for QEMU (peer), and vhost-net is refused on the emulator.
	scenarios=(boot1 boot2 reboot bigmem pvh vrng vblk vnet vmq vuser vconsole vballoon vpause vratelimit vcpuhot vhotplug vmemhot vsnapshot vdisksnap vjail vmigrate vmignet vpostcopy vvsock vdisplay vbochs vinput vall)
elif [[ ${#scenarios[@]} -eq 0 ]]; then
	scenarios=(peer boot1 boot2 reboot bigmem pvh vrng vblk vnet vhost vmq vuser vconsole vballoon vpause vratelimit vcpuhot vhotplug vmemhot vsnapshot vdisksnap vjail vmigrate vmignet vpostcopy vcross vvsock vvhostvsock vswitch vdisplay vbochs vinput vall)
fi
[[ $accel == kvm || $accel == emu ]] || die "--accel must be kvm or emu"
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN

passed=0
failed=0
retried=()
# l1_lockup LOG: prints "L1's kernel locked up" when L1's console (LOG) shows a soft lockup or
# an RCU stall, nothing otherwise.
l1_lockup() {
	grep -qE 'watchdog: BUG: soft lockup|rcu_preempt self-detected stall' "$1" 2>/dev/null &&
		echo "L1's kernel locked up"
}

report() { # report PASS|FAIL SCENARIO DETAIL
	printf '%s %s: %s\n' "$1" "$2" "$3"
	if [[ $1 == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# Why the lab cannot run at all, or empty when it can.
lab_blocker=
if ! command -v qemu-system-x86_64 >/dev/null; then
	lab_blocker="qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
else
	buildlog=$GUREUM_ROOT/out/lab-build.log
	mkdir -p "$GUREUM_ROOT/out"
	log "building the lab (guest image, L1 initramfs)"
	# The generic-kernel guest only when a scenario of this run needs it (a second kernel).
	for s in "${scenarios[@]}"; do
		f=$GUREUM_ROOT/tests/lab/scenarios/$s.sh
		[[ -f $f && " $(scenario_extras "$f") " == *" generic "* ]] && export LAB_BUILD_GENERIC=1
	done
	if ! "$GUREUM_ROOT/scripts/lab-initramfs.sh" >"$buildlog" 2>&1; then
		lab_blocker="building the lab failed: $(grep -m1 'error' "$buildlog" || tail -n1 "$buildlog")"
	fi
	sed 's/^/  /' "$buildlog" >&2
fi

run_list=()
for s in "${scenarios[@]}"; do
	for ((i = 0; i < repeat; i++)); do
		run_list+=("$s")
	done
done
for s in "${run_list[@]}"; do
	script=$GUREUM_ROOT/tests/lab/scenarios/$s.sh
	if [[ -n $lab_blocker ]]; then
		report FAIL "$s" "the lab cannot run: $lab_blocker"
		continue
	fi
	if [[ ! -f $script ]]; then
		report FAIL "$s" "no such scenario ($script)"
		continue
	fi
	if [[ $vmm == gureum && ! -x $GUREUM_BIN ]] && grep -q '^require_gureum' "$script"; then
		report FAIL "$s" "$GUREUM_BIN is not built (run: make)"
		continue
	fi
	logfile=$GUREUM_ROOT/out/lab/$s.log
	[[ $accel == emu ]] && logfile=$GUREUM_ROOT/out/lab/$s.direct.log
	log "scenario $s (L1 log: $logfile)"
	if [[ $accel == emu ]]; then
		# No L1 to hang: one run, its verdict as it is.
		line=$("$GUREUM_ROOT/scripts/lab-direct.sh" --no-build --log "$logfile" "$s") && ok=1 ||
			ok=0
	else
		line=$("$GUREUM_ROOT/scripts/lab.sh" --no-build --vmm "$vmm" --log "$logfile" "$s") &&
			ok=1 || ok=0
	fi
	# L1 itself (QEMU TCG emulating SVM) may hang, its kernel panic or the machine reset,
	# before the scenario can report (see tests/lab/README.md). That says nothing about the VMM under test: such a run is retried
	# (twice at most), and the retry is reported in the scenario's line and in the summary. A
	# failure the scenario reports is retried only when L1's own kernel locked up during it
	# (a soft lockup or an RCU stall: a kernel that stops scheduling is the kernel's fault,
	# whatever process it ran for), since the L2 guest then stops too.
	hangs=()
	for attempt in 2 3; do
		[[ $ok == 0 && ($line == *"L1 did not finish"* || $line == *"L1 froze"* ||
			$line == *"L1's kernel panicked"* || $line == *"without a result"* ||
			-n "$(l1_lockup "$logfile")") ]] || break
		hangs+=("${line#LAB-RESULT "$s" FAIL }")
		cp "$logfile" "$logfile.hang$((attempt - 1))"
		echo "lab-tests: $s: L1 hung or its kernel locked up ($line; its log kept as $logfile.hang$((attempt - 1))); attempt $attempt"
		line=$("$GUREUM_ROOT/scripts/lab.sh" --no-build --vmm "$vmm" --log "$logfile" "$s") &&
			ok=1 || ok=0
	done
	note=
	if [[ ${#hangs[@]} -gt 0 ]]; then
		retried+=("$s")
		note=" [RETRIED: attempt $((${#hangs[@]} + 1)) after L1 hung or locked up: ${hangs[*]}]"
	fi
	if [[ $ok == 1 ]]; then
		report PASS "$s" "${line#LAB-RESULT "$s" PASS }$note"
	else
		report FAIL "$s" "${line#LAB-RESULT "$s" FAIL }$note"
		echo "---- $s: end of L1's console ($logfile) ----"
		tr -d '\r' <"$logfile" | grep -a -v "TCG doesn't support requested feature" | tail -n 100
		echo "----"
	fi
done
summary="$passed passed, $failed failed, 0 skipped"
[[ ${#retried[@]} -eq 0 ]] || summary+=", ${#retried[@]} retried (${retried[*]})"
echo "$summary"
[[ $failed -eq 0 ]]
