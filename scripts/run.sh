#!/usr/bin/env bash
# `make run`: boot the default guest (Debian cloud kernel + busybox shell) under gureum, here:
# on KVM with hardware virtualization (VT-x/AMD-V behind /dev/kvm), otherwise on gureum's
# software CPU (no /dev/kvm, or /dev/kvm backed by PVM); gureum says which and why.
#   scripts/run.sh [--lab] [--net]
#   --lab: inside the nested lab instead, gureum on nested KVM
#   --net: with a network card on gureum's user-mode NAT (--net user; no root, no tap): the
#          guest takes 10.0.2.15 by DHCP before the shell and reaches the host's network
# Without a terminal on stdin (CI) nobody types: the guest shell gets end of input (Ctrl-D)
# at its first prompt, the guest powers off and this script exits with gureum's status.
# GUREUM_BIN overrides build/gureum.
set -euo pipefail
LOG_TAG=run
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
export GUREUM_BIN
GUEST=$GUREUM_ROOT/out/guest
PROMPT='gureum-guest# '

# end_input_at_prompt FILE: once FILE (the console output) shows the shell prompt, type
# Ctrl-D; gives up after 10 minutes. Its stdout is gureum's stdin.
end_input_at_prompt() {
	local i
	for ((i = 0; i < 3000; i++)); do
		if grep -q -F -- "$PROMPT" "$1" 2>/dev/null; then
			printf '\004'
			return 0
		fi
		sleep 0.2
	done
}

run_direct() {
	local cmdline="console=ttyS0 quiet" net=()
	if [[ $WITH_NET == 1 ]]; then
		cmdline="$cmdline gureum.net=dhcp"
		net=(--net user)
	fi
	local gureum=("$GUREUM_BIN" run --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz"
		--cmdline "$cmdline" --cpus 2 --memory 512M "${net[@]}")
	log "booting the default guest under gureum (leave the shell with 'poweroff -f' or Ctrl-D)"
	if [[ -t 0 ]]; then
		exec "${gureum[@]}"
	fi
	local out status
	out=$(mktemp "${TMPDIR:-/tmp}/gureum-run.XXXXXX")
	set +e
	end_input_at_prompt "$out" | "${gureum[@]}" | tee "$out"
	status=${PIPESTATUS[1]}
	set -e
	rm -f "$out"
	return "$status"
}

[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (run: make)"
LAB=0 WITH_NET=0
for arg in "$@"; do
	case $arg in
	--lab) LAB=1 ;;
	--net) WITH_NET=1 ;;
	*) die "unknown option $arg (scripts/run.sh [--lab] [--net])" ;;
	esac
done
[[ $LAB == 0 || $WITH_NET == 0 ]] || die "--net is for a direct run; the lab's scenarios set up their own networks"
if [[ $LAB == 1 ]]; then
	echo "run: booting inside the nested lab (QEMU TCG with nested SVM; gureum on nested KVM; slow: about a minute to the shell)"
	exec "$GUREUM_ROOT/scripts/lab.sh" --attach --timeout "$([[ -t 0 ]] && echo 0 || echo 300)" \
		interactive
fi
reason=$(no_hardware_virt_reason)
[[ -z $reason ]] || echo "run: no hardware virtualization here ($reason): gureum runs the guest on its software CPU"
"$GUREUM_ROOT/scripts/guest-image.sh" "$GUEST"
run_direct
