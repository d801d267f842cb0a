#!/usr/bin/env bash
# Installs the Debian packages gureum needs to build, test and boot its default guest.
# Idempotent: only missing packages are installed (apt-get update runs once, when needed).
set -euo pipefail

packages=(
	# build
	gcc make meson ninja-build pkg-config
	libjansson-dev liburing-dev zlib1g-dev libzstd-dev libslirp-dev libglib2.0-dev libmnl-dev libnftables-dev
	# --display: the VNC server, screendumps
	libvncserver-dev libpng-dev
	# tests, sanitizers, fuzzing
	libcriterion-dev clang libclang-rt-14-dev clang-format acpica-tools
	# the display scenario's VNC client, OCR and picture decoding (libvncclient comes with
	# libvncserver-dev)
	vncsnapshot tesseract-ocr tesseract-ocr-eng libjpeg-dev
	# guest images and the nested lab (QEMU is also the peer in benchmarks)
	qemu-system-x86 qemu-utils busybox-static cpio gzip lz4 zstd xz-utils e2fsprogs kmod strace procps
	# the guest's static benchmark tool (bench/randio.c, gcc -static needs libc.a)
	libc6-dev
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
