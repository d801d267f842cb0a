#!/bin/sh
# Interoperability of gureum's block layer with Debian's qemu-img and qemu-io, both ways.
#   usage: tests/block/interop.sh [path/to/gureum]
# Images that gureum creates and writes must pass `qemu-img check` and compare equal to a raw
# reference written by qemu-io with the same commands; images that QEMU creates and writes
# (backing chains, compression, zero clusters, version 2) must read back exactly through gureum.
# Prints "N passed, M failed" last; exits non-zero if anything failed.
set -u
G=$(realpath "${1:-build/gureum}")
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || {
	echo "qemu-img/qemu-io not found (apt-get install qemu-utils)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
passed=0
failed=0

# run NAME COMMAND...: one test case; its output is shown only when it fails.
run() {
	name=$1; shift
	if ("$@") >"$T/log" 2>&1; then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$T/log"
	fi
}

# The same mix of aligned and unaligned writes, zeroes and discards across cluster boundaries
# is applied by qemu-io (to references) and by gureum img io.
qemu_write() { # FORMAT FILE: applies the command list with qemu-io
	f=$1; file=$2; shift 2
	for c in "write -P 0xab 0 100k" "write -P 0x11 1M 512" "write -P 0x22 1048570 20" \
		"write -z 20k 4k" "write -P 0x33 3M 1M" "discard 2M 2M" "write -z 3200k 300k" \
		"write -P 0x44 7340031 3" "write -P 0x55 5M 2M" "write -z 6M 64k" \
		"write -P 0x66 6M 700"; do
		qemu-io -f "$f" -c "$c" "$file" >/dev/null || return 1
	done
}
gureum_write() { # FILE
	"$G" img io "$1" -c "write -P 0xab 0 100k" -c "write -P 0x11 1M 512" \
		-c "write -P 0x22 1048570 20" -c "write -z 20k 4k" -c "write -P 0x33 3M 1M" \
		-c "discard 2M 2M" -c "write -z 3200k 300k" -c "write -P 0x44 7340031 3" \
		-c "write -P 0x55 5M 2M" -c "write -z 6M 64k" -c "write -P 0x66 6M 700"
}

reference() { # NAME SIZE [BASE_RAW]: raw reference file, optionally starting as a copy of BASE_RAW
	if [ $# -ge 3 ]; then cp "$3" "$1"; else qemu-img create -f raw "$1" "$2" >/dev/null; fi
	qemu_write raw "$1"
}

qemu_check_clean() { qemu-img check "$1" && ! qemu-img check "$1" | grep -q leaked; }

# 1. gureum creates and writes; QEMU checks and compares.
gureum_written() { # OPTIONS
	"$G" img create -f qcow2 -o "$1" g.qcow2 8M &&
	gureum_write g.qcow2 &&
	qemu_check_clean g.qcow2 &&
	reference ref.raw 8M && qemu-img compare g.qcow2 ref.raw
}
for opts in cluster_size=64k cluster_size=512 cluster_size=4k cluster_size=2M compat=0.10 \
	refcount_bits=1 refcount_bits=8 refcount_bits=64 "cluster_size=1k,refcount_bits=2"; do
	run "gureum-written qcow2 ($opts) checks clean and equals qemu-io's raw" gureum_written "$opts"
done

# 2. gureum overlay on a QEMU base: partial writes copy the rest of the cluster from the base.
overlay_cow() { # BASE_FORMAT
	qemu-img create -f "$1" base.img 8M >/dev/null &&
	qemu-io -f "$1" -c "write -P 0x77 0 8M" base.img >/dev/null &&
	"$G" img create -f qcow2 -b base.img -F "$1" top.qcow2 &&
	gureum_write top.qcow2 &&
	qemu_check_clean top.qcow2 &&
	qemu-img convert -f "$1" -O raw base.img ref.raw && qemu_write raw ref.raw &&
	qemu-img compare top.qcow2 ref.raw
}
run "gureum overlay on raw base: copy-on-write matches" overlay_cow raw
run "gureum overlay on qcow2 base: copy-on-write matches" overlay_cow qcow2

# 3. QEMU chains read back through gureum.
qemu_chain() { # DEPTH
	qemu-img create -f qcow2 l0.qcow2 8M >/dev/null &&
	qemu-io -c "write -P 1 0 8M" l0.qcow2 >/dev/null || return 1
	i=1
	while [ $i -lt "$1" ]; do
		qemu-img create -f qcow2 -b "l$((i - 1)).qcow2" -F qcow2 "l$i.qcow2" >/dev/null &&
		qemu-io -c "write -P $((i + 1)) $((i * 64))k 100k" -c "write -z $((i * 512))k 64k" \
			-c "discard $((i * 512 + 128))k 128k" "l$i.qcow2" >/dev/null || return 1
		i=$((i + 1))
	done
	top="l$(($1 - 1)).qcow2"
	qemu-img convert -O raw "$top" want.raw && "$G" img convert -O raw "$top" got.raw &&
	cmp want.raw got.raw
}
run "qemu-written chain of 2 reads back exactly" qemu_chain 2
run "qemu-written chain of 12 reads back exactly" qemu_chain 12

qemu_written() { # CREATE_OPTIONS
	qemu-img create -f qcow2 -o "$1" q.qcow2 8M >/dev/null && qemu_write qcow2 q.qcow2 &&
	qemu-img convert -O raw q.qcow2 want.raw && "$G" img convert -O raw q.qcow2 got.raw &&
	cmp want.raw got.raw
}
for opts in compat=1.1 compat=0.10 cluster_size=512 cluster_size=2M refcount_bits=1 \
	lazy_refcounts=on; do
	run "qemu-written qcow2 ($opts) reads back exactly" qemu_written "$opts"
done

compressed() { # COMPRESSION_TYPE
	qemu-img create -f raw src.raw 8M >/dev/null && qemu_write raw src.raw &&
	qemu-img convert -c -O qcow2 -o "compression_type=$1" src.raw c.qcow2 &&
	"$G" img convert -O raw c.qcow2 got.raw && cmp src.raw got.raw &&
	gureum_write c.qcow2 && qemu_check_clean c.qcow2 && qemu-img compare c.qcow2 src.raw
}
run "qemu-compressed (zlib) image reads back and takes writes" compressed zlib
run "qemu-compressed (zstd) image reads back and takes writes" compressed zstd

# 4. gureum convert produces images QEMU accepts.
convert_to_qcow2() {
	qemu-img create -f raw src.raw 8M >/dev/null && qemu_write raw src.raw &&
	"$G" img convert -O qcow2 src.raw out.qcow2 && qemu_check_clean out.qcow2 &&
	qemu-img compare out.qcow2 src.raw
}
run "gureum convert raw -> qcow2 checks clean and compares equal" convert_to_qcow2

# 5. gureum img check agrees with qemu-img check, and --repair leaves an image QEMU finds clean.
set_refcount() { # FILE CLUSTER VALUE: 16-bit refcount in the first refcount block (cluster 2)
	printf "\\$(printf '%03o' $(($3 >> 8)))\\$(printf '%03o' $(($3 & 255)))" |
		dd of="$1" bs=1 seek=$((131072 + 2 * $2)) conv=notrunc 2>/dev/null
}
expect_status() { # STATUS COMMAND...
	want=$1; shift
	"$@"; got=$?
	[ "$got" -eq "$want" ] || { echo "exit status $got, expected $want: $*"; return 1; }
}
check_leak() {
	"$G" img create -f qcow2 k.qcow2 8M &&
	"$G" img io k.qcow2 -c "write 0 256k" -c "discard 64k 64k" && # frees cluster 6
	set_refcount k.qcow2 6 1 &&
	expect_status 3 "$G" img check k.qcow2 && expect_status 3 qemu-img check k.qcow2 &&
	expect_status 0 "$G" img check --repair k.qcow2 && qemu_check_clean k.qcow2
}
run "leaked cluster found by gureum and qemu, repaired" check_leak
check_corruption() {
	"$G" img create -f qcow2 k.qcow2 8M && "$G" img io k.qcow2 -c "write 0 64k" &&
	set_refcount k.qcow2 5 0 &&
	expect_status 2 "$G" img check k.qcow2 && expect_status 2 qemu-img check k.qcow2 &&
	expect_status 0 "$G" img check --repair k.qcow2 && qemu_check_clean k.qcow2
}
run "refcount below references found as corruption, repaired" check_corruption
check_qemu_images() {
	qemu-img create -f qcow2 q.qcow2 8M >/dev/null && qemu_write qcow2 q.qcow2 &&
	expect_status 0 "$G" img check q.qcow2 &&
	qemu-img convert -c -O qcow2 q.qcow2 c.qcow2 && expect_status 0 "$G" img check c.qcow2
}
run "qemu-written and compressed images check clean" check_qemu_images

# 6. What gureum must refuse, and say why.
refuses() { # MESSAGE COMMAND...
	msg=$1; shift
	if "$@" 2>err.txt; then echo "unexpectedly succeeded"; return 1; fi
	grep -q "$msg" err.txt || { cat err.txt; return 1; }
}
ext_l2() {
	qemu-img create -f qcow2 -o extended_l2=on x.qcow2 1M >/dev/null &&
	refuses "extended L2" "$G" img io x.qcow2 -c "write 0 4k"
}
run "writing an image with extended L2 entries refused with its name (reads: ext_l2.sh)" ext_l2
loop() {
	qemu-img create -f qcow2 a.qcow2 1M >/dev/null &&
	qemu-img create -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 >/dev/null &&
	qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2 &&
	refuses "loop" "$G" img info b.qcow2
}
run "backing chain loop detected" loop
data_file() {
	qemu-img create -f qcow2 -o data_file=d.raw x.qcow2 1M >/dev/null &&
	refuses "external data file" "$G" img info x.qcow2
}
run "external data file refused with its name" data_file

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
