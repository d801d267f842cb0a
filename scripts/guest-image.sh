#!/usr/bin/env bash
# Build gureum's default guest: the Debian cloud kernel plus a busybox-static initramfs.
#   scripts/guest-image.sh [--flavour cloud|generic] [OUTDIR]
#                                         (default: cloud in out/guest)
# --flavour generic builds the same guest on Debian's generic kernel (linux-image-amd64, in
# out/guest-generic): it has DRM, and its initramfs also loads the bochs DRM driver (with drm,
# drm_kms_helper, drm_vram_helper, drm_ttm_helper, ttm) for --display adapter=bochs (lab
# vbochs). Only the scenarios that need it build it: it is a 70 MB download (cached in
# out/cache, as the cloud kernel).
# Produces OUTDIR/vmlinuz (bzImage), OUTDIR/vmlinux (the same kernel as ELF, for PVH boot),
# OUTDIR/initramfs.cpio.gz, OUTDIR/modules/ (the kernel's
# whole module tree, used by the nested lab) and OUTDIR/kernel-release. Rebuilds only when the
# package versions or these scripts change (OUTDIR/.stamp).
# The initramfs also carries /bin/randio (bench/randio.c built static), the block I/O load of
# the virtio benchmark (random or sequential, QD1 or deeper), and the script fails when busybox lacks an applet the lab scenarios use.
# It also carries /bin/vsock-tool (tests/lab/vsock_tool.c), the guest and host ends of vvsock.
# With a framebuffer (gureum --display) its init starts a second shell on tty1 (scripts/guest-init).
set -euo pipefail
LOG_TAG=guest-image
. "$(dirname "${BASH_SOURCE[0]}")/lab-common.sh"

FLAVOUR=cloud
if [[ ${1:-} == --flavour ]]; then
	FLAVOUR=${2:-}
	shift 2
fi
[[ $FLAVOUR == cloud || $FLAVOUR == generic ]] || die "--flavour must be cloud or generic"
DEFAULT_OUTDIR=$GUREUM_ROOT/out/guest
[[ $FLAVOUR == generic ]] && DEFAULT_OUTDIR=$GUREUM_ROOT/out/guest-generic
OUTDIR=${1:-$DEFAULT_OUTDIR}
INIT_SCRIPT=$GUREUM_ROOT/scripts/guest-init
UDHCPC_SCRIPT=$GUREUM_ROOT/scripts/guest-udhcpc
# Virtio drivers the guest loads at boot (virtio_mem before its device may appear: auto-online
# is set first), the ACPI power button's driver (button), and 8021q for VLAN interfaces on a switch's trunk
# port (lab vswitch); modules_in_order adds their dependencies (virtio_ring,
# virtio_pci_modern_dev, net_failover, garp, ...) and skips built-in ones.
GUEST_MODULES=(virtio_ring virtio virtio_pci virtio_mmio virtio_blk virtio_net virtio_console
	virtio_rng virtio_balloon virtio_mem vsock vmw_vsock_virtio_transport 8021q evdev virtio_input button)
# The generic kernel's display driver for bochs-display (its DRM core and helpers come as its
# dependencies); the cloud kernel has no DRM, so nothing of it is found there.
[[ $FLAVOUR == generic ]] && GUEST_MODULES+=(bochs)

need_cmd apt-get apt
need_cmd dpkg dpkg
need_cmd cpio cpio
need_cmd gzip gzip
CC=${CC:-cc}
need_cmd "$CC" gcc
RANDIO_SRC=$GUREUM_ROOT/bench/randio.c
# /bin/vsock-tool: both ends of the virtio-vsock lab scenario (vvsock), static like randio.
VSOCK_TOOL_SRC=$GUREUM_ROOT/tests/lab/vsock_tool.c
# Busybox applets the lab's scenarios type into the guest shell (virtio scenarios, benchmark).
GUEST_APPLETS=(mount umount ip ifconfig ping nc dd sha256sum sync poweroff cat grep sed awk
	blockdev mkdir timeout sleep head tail wc tr cut xargs udhcpc od rmmod)

kpkg=$(kernel_package "$FLAVOUR")
kver=$(apt_candidate "$kpkg")
apt_known busybox-static
bbver=$(apt_candidate busybox-static)
stamp=$(inputs_hash "$kpkg=$kver" "busybox-static=$bbver" "${GUEST_MODULES[*]}" \
	"$(cat "$INIT_SCRIPT" "$UDHCPC_SCRIPT" "${BASH_SOURCE[0]}" "$(dirname "${BASH_SOURCE[0]}")/extract-vmlinux.sh")" \
	"$(cat "$RANDIO_SRC")" "$("$CC" --version | head -n1)")
stamp=$(inputs_hash "$stamp" "$(cat "$VSOCK_TOOL_SRC")")

if [[ -f $OUTDIR/.stamp && $(cat "$OUTDIR/.stamp") == "$stamp" && -f $OUTDIR/vmlinuz &&
	-f $OUTDIR/vmlinux && -f $OUTDIR/initramfs.cpio.gz ]]; then
	log "up to date: $OUTDIR ($kpkg $kver, busybox $bbver)"
	exit 0
fi

log "building the guest in $OUTDIR: $kpkg $kver, busybox-static $bbver"
kdeb=$(fetch_deb "$kpkg")
bbdeb=$(fetch_deb busybox-static)

work=$(mktemp -d "${TMPDIR:-/tmp}/gureum-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking $(basename "$kdeb")"
dpkg -x "$kdeb" "$work/kernel"
dpkg -x "$bbdeb" "$work/busybox"
release=$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
[[ -n $release ]] || die "no lib/modules/<release> in $kdeb"
moddir=$work/kernel/lib/modules/$release
[[ -f $work/kernel/boot/vmlinuz-$release ]] || die "no boot/vmlinuz-$release in $kdeb"

log "assembling the initramfs"
root=$work/root
mkdir -p "$root"/{dev,proc,sys,tmp,run,root,etc,lib/modules}
install_busybox "$root" "$work/busybox/bin/busybox"
applets=$("$work/busybox/bin/busybox" --list)
for applet in "${GUEST_APPLETS[@]}"; do
	grep -qx "$applet" <<<"$applets" ||
		die "busybox-static $bbver has no '$applet' applet, which the lab scenarios use"
done
# Static: the guest has no C library. ~0.9 MB uncompressed, ~0.4 MB in the gzip'd initramfs.
"$CC" -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -o "$root/bin/randio" "$RANDIO_SRC" ||
	die "cannot build $RANDIO_SRC statically (apt-get install libc6-dev)"
"$CC" -std=gnu11 -O2 -Wall -Wextra -Werror -static -o "$root/bin/vsock-tool" "$VSOCK_TOOL_SRC" ||
	die "cannot build $VSOCK_TOOL_SRC statically (apt-get install libc6-dev linux-libc-dev)"
install -m 0755 "$INIT_SCRIPT" "$root/init"
# Where Debian's busybox udhcpc looks for its script: `udhcpc -i eth0` configures the card
# (the DHCP of --net user).
install -D -m 0755 "$UDHCPC_SCRIPT" "$root/etc/udhcpc/default.script"
modules_in_order "$moddir" "${GUEST_MODULES[@]}" >"$root/etc/modules"
while IFS= read -r ko; do
	install -D -m 0644 "$moddir/$ko" "$root/lib/modules/$ko"
done <"$root/etc/modules"
log "modules (load order): $(xargs -n1 basename <"$root/etc/modules" | tr '\n' ' ')"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

mkdir -p "$OUTDIR"
rm -f "$OUTDIR/.stamp"
pack_cpio "$root" "$OUTDIR/initramfs.cpio.gz" gzip
install -m 0644 "$work/kernel/boot/vmlinuz-$release" "$OUTDIR/vmlinuz"
# The same kernel as an ELF file, booted through its PVH entry note by the lab's pvh scenario.
"$(dirname "${BASH_SOURCE[0]}")/extract-vmlinux.sh" "$OUTDIR/vmlinuz" "$OUTDIR/vmlinux" >/dev/null
rm -rf "$OUTDIR/modules"
mv "$moddir" "$OUTDIR/modules"
echo "$release" >"$OUTDIR/kernel-release"
echo "$stamp" >"$OUTDIR/.stamp"
log "done: $OUTDIR/vmlinuz ($(du -h "$OUTDIR/vmlinuz" | cut -f1)), initramfs.cpio.gz" \
	"($(du -h "$OUTDIR/initramfs.cpio.gz" | cut -f1)), kernel $release"
