#!/usr/bin/env bash
# Run one nested-lab scenario directly on this host, without L1: the lab's L1 root file system
# (busybox, the scenario scripts, gureum and the L2 guest: scripts/lab-initramfs.sh) unpacked
# into out/lab/direct-root and entered with chroot, in private mount, PID and network
# namespaces, and the VMM under test is gureum on its software CPU (GUREUM_ACCEL=emu). The same
# scenarios that check gureum on KVM in L1 then check it on the emulator, on any x86-64 host.
#   scripts/lab-direct.sh [--timeout SECONDS] [--log FILE] [--no-build] SCENARIO
# Prints the "LAB-RESULT ..." line and exits 0 only when the scenario passed. Needs root (the
# namespaces, the chroot, taps). GUREUM_BIN overrides build/gureum.
set -euo pipefail
LOG_TAG=lab-direct
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

timeout_s=
logfile=
build=1
while [[ $# -gt 0 ]]; do
	case $1 in
	--timeout) timeout_s=$2 && shift 2 ;;
	--log) logfile=$2 && shift 2 ;;
	--no-build) build=0 && shift ;;
	-*) die "unknown option $1 (see the comment at the top of $0)" ;;
	*) break ;;
	esac
done
[[ $# -eq 1 ]] || die "usage: scripts/lab-direct.sh [--timeout S] [--log FILE] [--no-build] SCENARIO"
scenario=$1
script=$GUREUM_ROOT/tests/lab/scenarios/$scenario.sh
[[ -f $script ]] || die "no scenario tests/lab/scenarios/$scenario.sh"
[[ $(id -u) -eq 0 ]] || die "running a scenario on this host needs root (namespaces, chroot, taps)"
need_cmd unshare util-linux
need_cmd cpio cpio
timeout_s=${timeout_s:-$(scenario_header "$script" lab-timeout 180)}

initrd=$(lab_initrd_path)
if [[ $build == 1 ]]; then
	[[ " $(scenario_extras "$script") " == *" generic "* ]] && export LAB_BUILD_GENERIC=1
	"$GUREUM_ROOT/scripts/lab-initramfs.sh" "$initrd" >&2
fi
base=$GUREUM_ROOT/out/lab/base.cpio
top=$initrd.top
[[ -f $base && -f $top ]] || die "$base or $top missing (run scripts/lab-initramfs.sh)"

# The root: the base archive unpacked once per base (its stamp), the small top every time.
root=$GUREUM_ROOT/out/lab/direct-root
if [[ ! -f $root/.stamp || $(cat "$root/.stamp") != $(cat "$base.stamp") ]]; then
	log "unpacking the lab's root file system into $root"
	rm -rf "$root"
	mkdir -p "$root"
	(cd "$root" && cpio --quiet -idm --no-absolute-filenames <"$base")
	cp "$base.stamp" "$root/.stamp"
fi
(cd "$root" && cpio --quiet -idmu --no-absolute-filenames <"$top")
# Scenarios' extra archives ("# lab-extra: NAME" in scripts/lab.sh): on disk here, so always.
for extra in "$GUREUM_ROOT"/out/lab/display.cpio "$GUREUM_ROOT"/out/lab/generic.cpio; do
	if [[ -f $extra ]]; then
		(cd "$root" && cpio --quiet -idmu --no-absolute-filenames <"$extra")
	fi
done
install -m 0755 "$GUREUM_ROOT/tests/lab/direct-init" "$root/lab/direct-init"

mkdir -p "$GUREUM_ROOT/out/lab"
logfile=${logfile:-$GUREUM_ROOT/out/lab/$scenario.direct.log}
inner_timeout=$((timeout_s > 40 ? timeout_s - 20 : timeout_s))

# In the new namespaces: a /dev of its own (no host kernel log, no host disks), then the chroot.
# shellcheck disable=SC2016 # expanded by the inner bash
enter='
set -e
root=$1
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	IFS=: read -r name major minor <<<"$node"
	mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
done
mkdir -p "$root/dev/net" "$root/dev/pts"
mknod -m 0666 "$root/dev/net/tun" c 10 200
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
exec chroot "$root" /lab/direct-init
'
log "running scenario '$scenario' on this host with gureum --accel emu (timeout ${timeout_s}s), log: $logfile"
start=$(date +%s)
set +e
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LAB_SCENARIO="$scenario" LAB_TIMEOUT="$inner_timeout" \
	LAB_VMM=gureum LAB_INTERACTIVE=0 LAB_DIRECT=1 GUREUM_ACCEL=emu \
	timeout -k 5 "$timeout_s" unshare --mount --net --pid --fork --kill-child \
	bash -c "$enter" lab-direct "$root" </dev/null >"$logfile" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - start))
result=$(tr -d '\r' <"$logfile" | grep -a -o -m1 "LAB-RESULT $scenario .*" || true)
if [[ -z $result ]]; then
	if [[ $rc == 124 || $rc == 137 ]]; then
		result="LAB-RESULT $scenario FAIL did not finish within ${timeout_s}s"
	else
		result="LAB-RESULT $scenario FAIL exited (status $rc) without a result"
	fi
fi
echo "$result (${elapsed}s)"
[[ $result == "LAB-RESULT $scenario PASS"* ]]
