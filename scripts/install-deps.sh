#!/usr/bin/env bash
# Installs the Debian packages gureum needs to build, test and boot its default guest, and the
# Node tests' packages from the npm registry (npm ci in each of node_test_dirs below).
# Idempotent: only missing packages are installed (apt-get update runs once, when needed).
set -euo pipefail

packages=(
	# build
	gcc make meson ninja-build pkg-config
	libjansson-dev liburing-dev zlib1g-dev libzstd-dev libslirp-dev libglib2.0-dev libmnl-dev libnftables-dev
	# the control API: its HTTP server (--api-socket) and gureum ctl's HTTP client
	libmicrohttpd-dev libcurl4-openssl-dev
	# gureumd's store of VM definitions and state; the VMM's system-call filters
	libsqlite3-dev libseccomp-dev
	# --display: the VNC server, screendumps
	libvncserver-dev libpng-dev
	# tests, sanitizers, fuzzing
	libcriterion-dev clang libclang-rt-14-dev clang-format acpica-tools
	# the display scenario's VNC client, OCR and picture decoding (libvncclient comes with
	# libvncserver-dev)
	vncsnapshot tesseract-ocr tesseract-ocr-eng libjpeg-dev
	# the browser test: noVNC's page in headless Chromium, driven from Node (the machine's
	# Node.js 20 or later with its npm; Debian 12's own nodejs is 18, too old for the driver)
	chromium novnc
	# guest images and the nested lab (QEMU is also the peer in benchmarks)
	qemu-system-x86 seabios qemu-utils busybox-static cpio gzip lz4 zstd xz-utils e2fsprogs kmod strace procps
	# the guest's static benchmark tool (bench/randio.c, gcc -static needs libc.a)
	libc6-dev
)

# The Node tests' packages, as each directory's package-lock.json pins them: tests/browser
# (playwright-core, which drives Debian's Chromium and downloads no browser of its own) and
# tests/api (the API contract test's OpenAPI validator, ajv, ajv-formats, yaml).
node_test_dirs=(tests/browser tests/api)

install_node_test_packages() {
	local root dir
	root=$(cd "$(dirname "$0")/.." && pwd)
	for dir in "${node_test_dirs[@]}"; do
		dir=$root/$dir
		# npm ci leaves its own copy of the lock file in node_modules: nothing to do while that
		# one is not older than the package's.
		if [[ -f $dir/node_modules/.package-lock.json &&
			! $dir/node_modules/.package-lock.json -ot $dir/package-lock.json ]]; then
			continue
		fi
		if ! command -v npm >/dev/null || ! node -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)'; then
			echo "install-deps: the tests in $dir need Node.js 20 or later with npm" \
				"(found: $(node --version 2>/dev/null || echo none))" >&2
			exit 1
		fi
		echo "install-deps: npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
			{ echo "install-deps: npm ci failed in $dir (is the npm registry reachable?)" >&2; exit 1; }
	done
}

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps: all ${#packages[@]} packages present"
	install_node_test_packages
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
install_node_test_packages
echo "install-deps: done"
