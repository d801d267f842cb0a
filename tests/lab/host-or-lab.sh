#!/usr/bin/env bash
# Runs one test program that needs host devices this machine may lack (meson wraps the
# guest-payload and KVM unit tests, and the vhost-net tests, in it): on this host when it has
# them all, otherwise inside the nested lab's L1, which has them (its kvm_amd is real
# hardware-assisted KVM: QEMU's TCG emulating SVM). Same program, same arguments, same
# environment; its output and exit status become this script's. Nothing is skipped for want
# of a device.
#   tests/lab/host-or-lab.sh [--needs DEVICE[,DEVICE...]] PROGRAM [ARGS...]
# DEVICE: kvm (/dev/kvm, the default), kvm-hw (/dev/kvm backed by VT-x/AMD-V, not PVM: for
# tests that compare what the CPU itself does), vhost-net (/dev/vhost-net), vhost-vsock
# (/dev/vhost-vsock), tun (/dev/net/tun),
# bridge-vlan (the kernel makes VLAN-filtering bridges: virtual switches).
# GUREUM_LAB_TESTS=auto (default) | local | lab chooses where. In the lab, PROGRAM, the gureum
# binary named by $GUREUM, the payloads (and their .expected transcripts) in $GUEST_PAYLOAD_DIR
# and their shared libraries keep their absolute paths inside L1. An L1 that hangs (see
# tests/lab/README.md) is retried twice at most, and every retry is reported on a line starting
# "RETRIED:" (scripts/check.sh counts those).
set -uo pipefail
LOG_TAG=host-or-lab
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lab-common.sh"

needs=kvm
if [[ ${1:-} == --needs ]]; then
	needs=${2:?--needs takes a list of devices}
	shift 2
fi
[[ $# -ge 1 ]] || die "usage: tests/lab/host-or-lab.sh [--needs DEVICE,...] PROGRAM [ARGS...]"
program=$(readlink -f "$1")
shift
[[ -x $program ]] || die "$program is not an executable"

# Environment variables the test program reads, passed on to L1.
PASSED_ENV='^(GUREUM[A-Z_]*|GUEST_[A-Z_]*|ASAN_OPTIONS|UBSAN_OPTIONS|LSAN_OPTIONS|CRITERION_[A-Z_]*|MALLOC_PERTURB_|MESON_TEST_ITERATION)='
# L1 time limit: payload tests are small, but every exit of a nested guest costs ~1 ms here.
L1_TIMEOUT=${GUREUM_LAB_TEST_TIMEOUT:-900}

# missing_devices: the needed device nodes this host lacks or this user cannot open.
missing_devices() {
	local dev node missing=()
	for dev in ${needs//,/ }; do
		case $dev in
		kvm) node=/dev/kvm ;;
		kvm-hw)
			node=/dev/kvm
			[[ -z $(no_hardware_virt_reason) ]] || {
				missing+=("hardware-assisted /dev/kvm")
				continue
			}
			;;
		vhost-net) node=/dev/vhost-net ;;
		vhost-vsock) node=/dev/vhost-vsock ;;
		tun) node=/dev/net/tun ;;
		bridge-vlan)
			# Not a device node: the kernel's VLAN-filtering bridge (virtual switches).
			unshare --net ip link add gureum-probe type bridge vlan_filtering 1 \
				2>/dev/null || missing+=("a bridge with VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
			continue
			;;
		*) die "unknown device '$dev' in --needs (kvm, kvm-hw, vhost-net, vhost-vsock, tun, bridge-vlan)" ;;
		esac
		[[ -c $node && -r $node && -w $node ]] || missing+=("$node")
	done
	echo "${missing[*]}"
}

where=${GUREUM_LAB_TESTS:-auto}
missing=$(missing_devices)
case $where in
auto) if [[ -z $missing ]]; then where=local; else where=lab; fi ;;
local | lab) ;;
*) die "GUREUM_LAB_TESTS must be auto, local or lab (not '$where')" ;;
esac
if [[ $where == local ]]; then
	exec "$program" "$@"
fi

echo "host-or-lab: ${missing:-nothing} missing here (GUREUM_LAB_TESTS=${GUREUM_LAB_TESTS:-auto}): running $(basename "$program") in the nested lab (L1: QEMU TCG with nested SVM)"
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd flock util-linux

work=$(mktemp -d "${TMPDIR:-/tmp}/gureum-host-or-lab.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The lab's base (L1 kernel, busybox, kvm modules) is shared by every test: build it under a
# lock, since meson runs several of these scripts at once.
mkdir -p "$GUREUM_ROOT/out/lab"
if ! flock "$GUREUM_ROOT/out/lab/.build.lock" "$GUREUM_ROOT/scripts/lab-initramfs.sh" \
	>"$work/build.log" 2>&1; then
	cat "$work/build.log"
	die "building the nested lab failed (see above)"
fi
base_initrd=$(lab_initrd_path)

# The test's own archive: the program, gureum, payloads and their libraries at the paths the
# test expects, the environment, the working directory and the command line.
root=$work/root
mkdir -p "$root/lab/program"
copy_elf_with_libs "$root" "$program"
if [[ -n ${GUREUM:-} && -x $GUREUM ]]; then
	copy_elf_with_libs "$root" "$(readlink -f "$GUREUM")" "$GUREUM"
fi
if [[ -n ${GUEST_PAYLOAD_DIR:-} && -d $GUEST_PAYLOAD_DIR ]]; then
	mkdir -p "$root/$GUEST_PAYLOAD_DIR"
	find "$GUEST_PAYLOAD_DIR" -maxdepth 1 -type f \
		\( -name '*.elf' -o -name '*.bin' -o -name '*.expected' \) \
		-exec cp {} "$root/$GUEST_PAYLOAD_DIR/" \;
fi
{
	env | grep -E "$PASSED_ENV" | while IFS='=' read -r name value; do
		printf 'export %s=%q\n' "$name" "$value"
	done
	# What executes L2's instructions there: QEMU's TCG (emulating SVM), whose known
	# departures from the architecture a test may accept (tests/guests/sysbehaviour.expected).
	qemu_version=$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p')
	printf 'export GUREUM_LAB_L1=%q\n' "qemu-tcg $qemu_version"
} >"$root/lab/program/env"
pwd >"$root/lab/program/cwd"
printf '%q ' "$program" "$@" >"$root/lab/program/cmd"
echo >>"$root/lab/program/cmd"
pack_cpio "$root" "$work/test.cpio"
cat "$base_initrd" "$work/test.cpio" >"$work/initrd.cpio"
rm -rf "$root"

# The result disk: L1 writes "PROGRAM-STATUS N" and the program's output to it (raw, then
# zeros), which does not depend on L1's console (see tests/lab/scenarios/program.sh).
RESULT_DISK_SIZE=64M

# run_in_l1: one L1 run; sets `line` (its LAB-RESULT), keeps its console in $work/l1.log and
# the result disk in $work/result.img.
run_in_l1() {
	rm -f "$work/result.img"
	truncate -s "$RESULT_DISK_SIZE" "$work/result.img"
	line=$("$GUREUM_ROOT/scripts/lab.sh" --initrd "$work/initrd.cpio" --timeout "$L1_TIMEOUT" \
		--result-disk "$work/result.img" --log "$work/l1.log" program 2>"$work/lab.err")
}

# disk_result: the status L1 wrote to the result disk, empty when it wrote none.
disk_result() {
	head -c 64 "$work/result.img" | tr -d '\0' | sed -n '1s/^PROGRAM-STATUS \([0-9]*\)$/\1/p'
}

# keep_hung_log ATTEMPT: the hung run's console (with QEMU's monitor dump of L1's state, see
# scripts/lab.sh) is kept in out/lab, and its monitor dump is printed into the test's log, so a
# freeze in CI leaves evidence of where L1 stopped.
keep_hung_log() {
	local kept
	kept="$GUREUM_ROOT/out/lab/program-$(basename "$program").hang$(($1 - 1)).log"
	mkdir -p "$GUREUM_ROOT/out/lab"
	cp "$work/l1.log" "$kept" 2>/dev/null || return 0
	echo "host-or-lab: the hung L1's console is kept in $kept; its monitor dump:"
	sed -n '/==== L1 froze/,/==== end of monitor state/p' "$kept" | head -n 120
}

run_in_l1
for attempt in 2 3; do
	[[ -z $(disk_result) ]] || break
	[[ $line == *"L1 did not finish"* || $line == *"L1 froze"* || $line == *"L1's kernel panicked"* ||
		$line == *"without a result"* ]] || break
	echo "RETRIED: $(basename "$program") in the nested lab, attempt $attempt: ${line#LAB-RESULT program FAIL }"
	keep_hung_log "$attempt"
	run_in_l1
done

status=$(disk_result)
if [[ -z $status ]]; then
	echo "host-or-lab: no result from L1: $line"
	echo "---- end of L1's console ----"
	tr -d '\r' <"$work/l1.log" | grep -a -v "TCG doesn't support requested feature" | tail -n 60
	cat "$work/lab.err"
	exit 1
fi
[[ $line == *"L1 froze"* ]] &&
	echo "host-or-lab: L1's console went silent after the program had finished; the result disk has its result"
# The program's output, from the result disk.
tr -d '\0' <"$work/result.img" | sed '1d'
echo "host-or-lab: $(basename "$program") ran in the nested lab: status $status (${line#LAB-RESULT program })"
exit "$status"
