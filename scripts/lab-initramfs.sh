#!/usr/bin/env bash
# Build the nested lab's L1 initramfs:
#   scripts/lab-initramfs.sh [OUT]        (default: out/lab/l1-initramfs.cpio)
# It is two concatenated, uncompressed cpio archives (the kernel unpacks both; no gunzip under
# TCG): a cached base (busybox, kvm modules, QEMU and strace with their libraries, the L2
# kernel and initramfs), rebuilt only when its inputs change, and a small top (L1 /init, the
# scenarios, build/gureum and its libraries), rebuilt on every call because it is cheap.
# GUREUM_BIN overrides the gureum binary (default build/gureum; the lab builds without it,
# and scenarios that need it then fail saying so).
set -euo pipefail
LOG_TAG=lab-initramfs
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

OUT=${1:-$GUREUM_ROOT/out/lab/l1-initramfs.cpio}
GUEST=$GUREUM_ROOT/out/guest
LABDIR=$(dirname "$OUT")
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
QEMU=$(command -v qemu-system-x86_64 || true)
STRACE=$(command -v strace || true)
# Files QEMU microvm opens besides its libraries (found with strace).
QEMU_DATA=(bios-microvm.bin linuxboot_dma.bin)

[[ -n $QEMU ]] || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
need_cmd cpio cpio
need_cmd ldd libc-bin
mkdir -p "$LABDIR"

"$GUREUM_ROOT/scripts/guest-image.sh" "$GUEST"

build_base() {
	local base=$LABDIR/base.cpio stamp root bbdeb release
	stamp=$(inputs_hash "$(cat "$GUEST/.stamp")" "$(sha256sum "$QEMU" ${STRACE:+"$STRACE"})" \
		"$(cat "${BASH_SOURCE[0]}")")
	if [[ -f $base && -f $base.stamp && $(cat "$base.stamp") == "$stamp" ]]; then
		log "base archive up to date"
		return 0
	fi
	log "building the base archive (busybox, kvm modules, QEMU, strace, L2 guest)"
	root=$(mktemp -d "${TMPDIR:-/tmp}/gureum-l1.XXXXXX")
	bbdeb=$(fetch_deb busybox-static)
	dpkg -x "$bbdeb" "$root/.bb"
	mkdir -p "$root"/{dev,proc,sys,tmp,run,root,etc,lib/modules,lab/l2,lab/bin}
	install_busybox "$root" "$root/.bb/bin/busybox"
	rm -rf "$root/.bb"
	release=$(cat "$GUEST/kernel-release")
	modules_in_order "$GUEST/modules" kvm_amd >"$root/etc/modules"
	while IFS= read -r ko; do
		install -D -m 0644 "$GUEST/modules/$ko" "$root/lib/modules/$ko"
	done <"$root/etc/modules"
	grep -q kvm-amd.ko "$root/etc/modules" || die "kernel $release has no kvm-amd module"
	copy_elf_with_libs "$root" "$QEMU" /usr/bin/qemu-system-x86_64
	local f
	for f in "${QEMU_DATA[@]}"; do
		install -D -m 0644 "/usr/share/qemu/$f" "$root/usr/share/qemu/$f"
	done
	if [[ -n $STRACE ]]; then
		copy_elf_with_libs "$root" "$STRACE" /usr/bin/strace
	else
		log "strace not installed: the boot benchmark will not measure QEMU's start-up time"
	fi
	cp "$GUEST/vmlinuz" "$GUEST/vmlinux" "$GUEST/initramfs.cpio.gz" "$root/lab/l2/"
	pack_cpio "$root" "$base"
	rm -rf "$root"
	echo "$stamp" >"$base.stamp"
	log "base archive: $(du -h "$base" | cut -f1)"
}

build_top() {
	local top=$LABDIR/top.cpio root
	root=$(mktemp -d "${TMPDIR:-/tmp}/gureum-l1top.XXXXXX")
	mkdir -p "$root/lab/scenarios" "$root/lab/bin"
	install -m 0755 "$GUREUM_ROOT/tests/lab/l1-init" "$root/init"
	install -m 0644 "$GUREUM_ROOT/tests/lab/lib.sh" "$root/lab/lib.sh"
	install -m 0644 "$GUREUM_ROOT"/tests/lab/scenarios/*.sh "$root/lab/scenarios/"
	if [[ -x $GUREUM_BIN ]]; then
		copy_elf_with_libs "$root" "$GUREUM_BIN" /lab/bin/gureum
	else
		log "warning: $GUREUM_BIN not built; scenarios that need gureum will fail"
	fi
	pack_cpio "$root" "$top"
	rm -rf "$root"
}

build_base
build_top
cat "$LABDIR/base.cpio" "$LABDIR/top.cpio" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "L1 initramfs: $OUT ($(du -h "$OUT" | cut -f1))"
