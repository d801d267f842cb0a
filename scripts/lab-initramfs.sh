#!/usr/bin/env bash
# Build the nested lab's L1 initramfs:
#   scripts/lab-initramfs.sh [OUT]        (default: lab_initrd_path: out/lab/l1-initramfs.cpio,
#                                          or l1-initramfs.<build dir>.cpio for GUREUM_BIN)
# It is two concatenated, uncompressed cpio archives (the kernel unpacks both; no gunzip under
# TCG): a cached base (busybox, kvm, tun, vhost-net and vhost-vsock modules, QEMU, strace and e2fsprogs with
# their libraries, the L2 kernel and initramfs), rebuilt only when its inputs change, and a
# small top (L1 /init, the scenarios, build/gureum and its libraries), rebuilt on every call
# because it is cheap.
# LAB_BUILD_GENERIC=1 also builds out/lab/generic.cpio, the guest on Debian's generic kernel
# (scripts/guest-image.sh --flavour generic), for scenarios whose header names it
# ("# lab-extra: ... generic": lab.sh and tests/lab/run.sh set it only then).
# GUREUM_BIN overrides the gureum binary (default build/gureum; the lab builds without it,
# and scenarios that need it then fail saying so).
set -euo pipefail
LOG_TAG=lab-initramfs
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

OUT=${1:-$(lab_initrd_path)}
GUEST=$GUREUM_ROOT/out/guest
LABDIR=$(dirname "$OUT")
GUREUM_BIN=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum}
QEMU=$(command -v qemu-system-x86_64 || true)
STRACE=$(command -v strace || true)
# Files QEMU microvm opens besides its libraries (found with strace).
QEMU_DATA=(bios-microvm.bin linuxboot_dma.bin)
# Modules L1 loads (dependencies are added): KVM, tun + vhost-net so the virtio-net scenarios
# have /dev/net/tun and /dev/vhost-net, vhost-vsock (with vsock) for /dev/vhost-vsock and L1's
# AF_VSOCK sockets, and virtio-blk for the result disk of test programs
# (tests/lab/host-or-lab.sh).
# bridge and nf_tables (with nft_limit, and nft_meta_bridge for iifname in the bridge family:
# L1 has no modprobe to load it on demand) for the virtual switches.
L1_MODULES=(kvm_amd tun vhost_net vhost_vsock virtio_pci virtio_blk bridge nf_tables nft_limit nft_meta_bridge)
# e2fsprogs, for the virtio-blk scenarios: make a file system on a disk image, look into it.
E2FS_TOOLS=(mke2fs debugfs e2fsck)
# The display scenario's peers: Debian's vncsnapshot (a VNC client that saves the screen) and
# tesseract with its English data (reads the console text off the capture).
VNCSNAPSHOT=$(command -v vncsnapshot || true)
TESSERACT=$(command -v tesseract || true)
TESSDATA=/usr/share/tesseract-ocr/5/tessdata
# Built beside the gureum binary (tests/lab/meson.build): the scenario's client and picture
# tools.
LAB_TOOLS_DIR=$(dirname "$GUREUM_BIN")/tests/lab

[[ -n $QEMU ]] || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
need_cmd cpio cpio
need_cmd ldd libc-bin
need_cmd mke2fs e2fsprogs
E2FS_PATHS=()
for t in "${E2FS_TOOLS[@]}"; do
	E2FS_PATHS+=("$(command -v "$t")")
done
mkdir -p "$LABDIR"

"$GUREUM_ROOT/scripts/guest-image.sh" "$GUEST"

build_base() {
	local base=$LABDIR/base.cpio stamp root bbdeb release
	stamp=$(inputs_hash "$(cat "$GUEST/.stamp")" \
		"$(sha256sum "$QEMU" ${STRACE:+"$STRACE"} "${E2FS_PATHS[@]}")" \
		"$(cat "${BASH_SOURCE[0]}")")
	if [[ -f $base && -f $base.stamp && $(cat "$base.stamp") == "$stamp" ]]; then
		log "base archive up to date"
		return 0
	fi
	log "building the base archive (busybox, modules, QEMU, strace, e2fsprogs, L2 guest)"
	root=$(mktemp -d "${TMPDIR:-/tmp}/gureum-l1.XXXXXX")
	bbdeb=$(fetch_deb busybox-static)
	dpkg -x "$bbdeb" "$root/.bb"
	mkdir -p "$root"/{dev,proc,sys,tmp,run,root,etc,lib/modules,lab/l2,lab/bin}
	install_busybox "$root" "$root/.bb/bin/busybox"
	rm -rf "$root/.bb"
	release=$(cat "$GUEST/kernel-release")
	modules_in_order "$GUEST/modules" "${L1_MODULES[@]}" >"$root/etc/modules"
	while IFS= read -r ko; do
		install -D -m 0644 "$GUEST/modules/$ko" "$root/lib/modules/$ko"
	done <"$root/etc/modules"
	grep -q kvm-amd.ko "$root/etc/modules" || die "kernel $release has no kvm-amd module"
	grep -q vhost_net.ko "$root/etc/modules" || die "kernel $release has no vhost_net module"
	grep -q vhost_vsock.ko "$root/etc/modules" || die "kernel $release has no vhost_vsock module"
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
	# In /sbin, replacing busybox's feature-poor mke2fs applet link (its links point to the
	# absolute /bin/busybox: remove them first, so nothing writes through them to the host).
	for f in "${E2FS_PATHS[@]}"; do
		rm -f "$root/sbin/$(basename "$f")"
		copy_elf_with_libs "$root" "$f" "/sbin/$(basename "$f")"
	done
	rm -f "$root/sbin/mkfs.ext4"
	ln -s mke2fs "$root/sbin/mkfs.ext4"
	[[ -f /etc/mke2fs.conf ]] && install -D -m 0644 /etc/mke2fs.conf "$root/etc/mke2fs.conf"
	cp "$GUEST/vmlinuz" "$GUEST/vmlinux" "$GUEST/initramfs.cpio.gz" "$root/lab/l2/"
	# A private name until complete: another build of the lab may run at the same time.
	pack_cpio "$root" "$base.$$"
	rm -rf "$root"
	mv "$base.$$" "$base"
	echo "$stamp" >"$base.stamp"
	log "base archive: $(du -h "$base" | cut -f1)"
}

# The display scenario's extra archive (LABDIR/display.cpio), appended to the initramfs only for
# scenarios whose header says "# lab-extra: display" (scripts/lab.sh): tesseract brings 45 MB of
# libraries (ICU's data alone is 30 MB) that every other L1 would unpack for nothing.
build_display_extra() {
	local out=$LABDIR/display.cpio stamp root
	stamp=$(inputs_hash "$(sha256sum ${VNCSNAPSHOT:+"$VNCSNAPSHOT"} ${TESSERACT:+"$TESSERACT"} \
		/dev/null)" "$(cat "${BASH_SOURCE[0]}")")
	if [[ -f $out && -f $out.stamp && $(cat "$out.stamp") == "$stamp" ]]; then
		return 0
	fi
	root=$(mktemp -d "${TMPDIR:-/tmp}/gureum-l1display.XXXXXX")
	copy_display_peers "$root"
	pack_cpio "$root" "$out.$$"
	rm -rf "$root"
	mv "$out.$$" "$out"
	echo "$stamp" >"$out.stamp"
	log "display archive (vncsnapshot, tesseract): $(du -h "$out" | cut -f1)"
}

# The generic-kernel guest's extra archive (LABDIR/generic.cpio): /lab/l2-generic/vmlinuz and
# initramfs.cpio.gz, the same guest as /lab/l2 on linux-image-amd64, whose DRM drives
# --display adapter=bochs (lab vbochs).
build_generic_extra() {
	local out=$LABDIR/generic.cpio guest=$GUREUM_ROOT/out/guest-generic stamp root
	"$GUREUM_ROOT/scripts/guest-image.sh" --flavour generic "$guest"
	stamp=$(inputs_hash "$(cat "$guest/.stamp")" "$(cat "${BASH_SOURCE[0]}")")
	if [[ -f $out && -f $out.stamp && $(cat "$out.stamp") == "$stamp" ]]; then
		return 0
	fi
	root=$(mktemp -d "${TMPDIR:-/tmp}/gureum-l1generic.XXXXXX")
	install -D -m 0644 "$guest/vmlinuz" "$root/lab/l2-generic/vmlinuz"
	install -D -m 0644 "$guest/initramfs.cpio.gz" "$root/lab/l2-generic/initramfs.cpio.gz"
	pack_cpio "$root" "$out.$$"
	rm -rf "$root"
	mv "$out.$$" "$out"
	echo "$stamp" >"$out.stamp"
	log "generic-kernel guest archive: $(du -h "$out" | cut -f1)"
}

# vncsnapshot and tesseract (only its English data: the scenario reads English).

# Files QEMU's pc machine with a standard VGA and a VNC server opens besides microvm's: the
# display benchmark's peer (SeaBIOS sets up VGA text mode, which the cloud kernel's vgacon draws into).
# Debian's QEMU looks for firmware in /usr/share/qemu and /usr/share/seabios.
QEMU_PC_DATA=(/usr/share/seabios/bios-256k.bin /usr/share/seabios/vgabios-stdvga.bin
	/usr/share/qemu/kvmvapic.bin /usr/share/qemu/keymaps/en-us)

# vncsnapshot and tesseract (only its English data: the scenario reads English), and the
# files QEMU's pc machine needs for the display benchmark.
copy_display_peers() {
	local f
	for f in "${QEMU_PC_DATA[@]}"; do
		if [[ -f $f ]]; then
			install -D -m 0644 "$f" "$1$f"
		else
			log "$f missing (package seabios): the display benchmark's QEMU will not start"
		fi
	done
	if [[ -n $VNCSNAPSHOT ]]; then
		copy_elf_with_libs "$1" "$VNCSNAPSHOT" /usr/bin/vncsnapshot
	else
		log "vncsnapshot not installed: the display scenario (vdisplay) will fail"
	fi
	if [[ -n $TESSERACT && -f $TESSDATA/eng.traineddata ]]; then
		copy_elf_with_libs "$1" "$TESSERACT" /usr/bin/tesseract
		install -D -m 0644 "$TESSDATA/eng.traineddata" "$1$TESSDATA/eng.traineddata"
	else
		log "tesseract-ocr(-eng) not installed: the display scenario (vdisplay) will fail"
	fi
}

build_top() {
	local top=$OUT.top root
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
	local tool
	for tool in vnc-tool image-tool; do
		if [[ -x $LAB_TOOLS_DIR/$tool ]]; then
			copy_elf_with_libs "$root" "$LAB_TOOLS_DIR/$tool" "/usr/bin/$tool"
		fi
	done
	pack_cpio "$root" "$top"
	rm -rf "$root"
}

build_base
build_display_extra
if [[ ${LAB_BUILD_GENERIC:-0} == 1 ]]; then
	build_generic_extra
fi
build_top
cat "$LABDIR/base.cpio" "$OUT.top" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "L1 initramfs: $OUT ($(du -h "$OUT" | cut -f1))"
