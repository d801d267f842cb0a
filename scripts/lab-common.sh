# shellcheck shell=bash
# Helpers shared by the guest-image and nested-lab scripts (sourced, not run).
# Everything here runs on the host, under bash with `set -euo pipefail`.

GUREUM_ROOT=${GUREUM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# Downloaded .deb files live here so repeated builds do not fetch again.
GUREUM_CACHE=${GUREUM_CACHE:-$GUREUM_ROOT/out/cache}

log() { printf '%s: %s\n' "${LOG_TAG:-lab}" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "${LOG_TAG:-lab}" "$*" >&2
	exit 1
}
# need_cmd CMD PACKAGE: fail clearly when a host tool is missing.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed (apt-get install $2)"
}

# apt_candidate PKG: the version apt would download, empty when apt does not know PKG.
apt_candidate() {
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

# apt_known PKG: make sure apt knows PKG, running `apt-get update` once only if it does not.
apt_known() {
	[[ -n $(apt_candidate "$1") ]] && return 0
	if [[ -z ${APT_UPDATED:-} ]]; then
		log "apt does not know $1; running apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	[[ -n $(apt_candidate "$1") ]] || die "package $1 not found in the apt sources"
}

# scenario_extras SCRIPT: the names its "# lab-extra: NAME..." header line lists (out/lab/NAME.cpio
# archives appended to L1's initramfs for it), space-separated, or nothing.
scenario_extras() {
	sed -n 's/^# lab-extra: *\([a-z ]*\)$/\1/p' "$1" | head -n1 | xargs
}

# kernel_package [FLAVOUR]: resolve the linux-image-cloud-amd64 metapackage (FLAVOUR cloud, the
# default) or linux-image-amd64 (generic: with DRM and its drivers) to its versioned image
# package (e.g. linux-image-6.1.0-56-cloud-amd64); the versioned name is also the ABI.
kernel_package() {
	local meta=linux-image-cloud-amd64 dep
	[[ ${1:-cloud} == generic ]] && meta=linux-image-amd64
	apt_known "$meta"
	dep=$(apt-cache depends "$meta" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[[ -n $dep ]] || die "cannot resolve $meta to a versioned kernel package"
	echo "$dep"
}

# fetch_deb PKG: print the path of PKG's .deb in the cache, downloading it if missing.
fetch_deb() {
	local pkg=$1 ver file
	apt_known "$pkg"
	ver=$(apt_candidate "$pkg")
	mkdir -p "$GUREUM_CACHE/debs"
	# apt-get download names files pkg_version_arch.deb with ':' escaped as %3a.
	file=$(find "$GUREUM_CACHE/debs" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n1)
	if [[ -z $file ]]; then
		log "downloading $pkg $ver"
		(cd "$GUREUM_CACHE/debs" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) ||
			die "apt-get download $pkg=$ver failed"
		file=$(find "$GUREUM_CACHE/debs" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n1)
		[[ -n $file ]] || die "downloaded $pkg but cannot find its .deb in $GUREUM_CACHE/debs"
	fi
	echo "$file"
}

# module_depends KO: the module names KO depends on (from its .modinfo section).
module_depends() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

# modules_in_order MODDIR NAME...: print the .ko paths (relative to MODDIR) of NAMEs and all
# their dependencies, dependencies first, each once. Names not built as modules are skipped
# (they are built into the kernel, or absent from it).
modules_in_order() {
	local moddir=$1
	shift
	local -A path_of=() seen=()
	local ko name
	while IFS= read -r ko; do
		name=$(basename "$ko" .ko)
		path_of[${name//-/_}]=$ko
	done < <(cd "$moddir" && find kernel -name '*.ko')
	_visit_module() {
		local n=${1//-/_} dep
		[[ -n ${seen[$n]:-} ]] && return 0
		seen[$n]=1
		[[ -n ${path_of[$n]:-} ]] || return 0
		for dep in $(module_depends "$moddir/${path_of[$n]}"); do
			_visit_module "$dep"
		done
		echo "${path_of[$n]}"
	}
	for name in "$@"; do
		_visit_module "$name"
	done
}

# install_busybox ROOT BUSYBOX: copy a static busybox to ROOT/bin and link every applet.
install_busybox() {
	local root=$1 bb=$2 applet
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin}
	install -m 0755 "$bb" "$root/bin/busybox"
	while IFS= read -r applet; do
		[[ $applet == bin/busybox ]] && continue
		[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
	done < <("$bb" --list-full)
}

# copy_elf_with_libs ROOT BINARY [DEST]: copy a dynamic executable and every shared library
# ldd lists for it (including the dynamic loader) to the same paths under ROOT.
copy_elf_with_libs() {
	local root=$1 bin=$2 dest=${3:-$2} lib
	install -D -m 0755 "$bin" "$root/$dest"
	while IFS= read -r lib; do
		[[ -e $root/$lib ]] && continue
		install -D -m 0755 "$(readlink -f "$lib")" "$root/$lib"
	done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# pack_cpio ROOT OUT [gzip]: newc archive of ROOT, owned by root, in a stable order.
pack_cpio() {
	local root=$1 out=$2 compress=${3:-}
	if [[ $compress == gzip ]]; then
		(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0 | gzip -6 -n) >"$out.tmp"
	else
		(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0) >"$out.tmp"
	fi
	mv "$out.tmp" "$out"
}

# inputs_hash STRING...: one short hash over strings and the content of this file.
inputs_hash() {
	{
		printf '%s\n' "$@"
		cat "${BASH_SOURCE[0]}"
	} | sha256sum | cut -c1-16
}

# lab_initrd_path: the L1 initramfs for $GUREUM_BIN. Each gureum binary other than the default
# build/gureum gets its own file (named after its build directory), so people testing different
# builds in one checkout at the same time never boot each other's gureum.
lab_initrd_path() {
	local bin=${GUREUM_BIN:-$GUREUM_ROOT/build/gureum} dir
	dir=$(basename "$(dirname "$bin")")
	if [[ $bin -ef $GUREUM_ROOT/build/gureum || $bin == "$GUREUM_ROOT/build/gureum" ]]; then
		echo "$GUREUM_ROOT/out/lab/l1-initramfs.cpio"
	else
		echo "$GUREUM_ROOT/out/lab/l1-initramfs.$dir.cpio"
	fi
}

# scenario_header SCRIPT KEY DEFAULT: the number on a "# KEY: N" line of a lab scenario script
# (lab-smp, lab-timeout), or DEFAULT.
scenario_header() {
	local v
	v=$(sed -n "s/^# $2: *\([0-9]*\)\$/\1/p" "$1" | head -n1)
	echo "${v:-$3}"
}

# Why this host cannot run gureum on hardware virtualization, or empty when it can.
no_hardware_virt_reason() {
	local pvm=
	[[ -e /sys/module/kvm_pvm ]] && pvm=", and /dev/kvm is PVM (kvm_pvm), which emulates unmodified guests"
	if ! grep -q -w -E 'vmx|svm' /proc/cpuinfo; then
		echo "the CPU shows no vmx/svm flag$pvm"
	elif [[ -n $pvm ]]; then
		echo "/dev/kvm is PVM (kvm_pvm), not VT-x/AMD-V"
	elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		echo "/dev/kvm is absent or not usable by $(id -un)"
	fi
}
