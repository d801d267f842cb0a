#!/bin/sh
# Extended L2 entries (subclusters) against Debian's qemu-img/qemu-io: images that qemu-img
# creates with extended_l2=on and qemu-io writes at subcluster granularity (data, write -z,
# discard, compressed clusters; with and without backing files) read back through gureum exactly
# as through qemu-img convert, gureum img map --output=json prints what qemu-img map prints, and
# gureum img check agrees with qemu-img check on clean, leaking and corrupt images.
#   usage: tests/block/ext_l2.sh [path/to/gureum]
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

expect_status() { # STATUS COMMAND...
	want=$1; shift
	"$@"; got=$?
	[ "$got" -eq "$want" ] || { echo "exit status $got, expected $want: $*"; return 1; }
}

# SEED CLUSTER SIZE: a qemu-io command list of pseudo-random writes, zero writes and discards,
# mostly subcluster-sized and -aligned (cluster/32), some unaligned (512-byte steps), a few of
# whole clusters, after three compressed clusters. Subclusters are the point: most requests are small.
ops() {
	awk -v seed="$1" -v cluster="$2" -v size="$3" 'BEGIN {
		srand(seed); sub_ = cluster / 32
		# Compressed writes first: QEMU compresses only into unallocated clusters.
		for (i = 0; i < 3; i++)
			printf "-c\nwrite -c -P %d %d %d\n", 100 + i,
				int(rand() * (size / cluster)) * cluster, cluster
		for (i = 0; i < 60; i++) {
			r = rand()
			if (r < 0.55) {
				off = int(rand() * (size / sub_ - 4)) * sub_
				len = (1 + int(rand() * 3)) * sub_
			} else if (r < 0.8) {
				off = int(rand() * (size / 512 - 64)) * 512
				len = (1 + int(rand() * 16)) * 512
			} else {
				off = int(rand() * (size / cluster - 2)) * cluster
				len = cluster
			}
			k = rand()
			if (k < 0.55)
				printf "-c\nwrite -P %d %d %d\n", 1 + i, off, len
			else if (k < 0.75)
				printf "-c\nwrite -z %d %d\n", off, len
			else
				printf "-c\ndiscard %d %d\n", off, len
		}
	}'
}

qemu_ops() { # SEED CLUSTER SIZE FILE
	ops "$1" "$2" "$3" >ops.txt
	# One qemu-io run for all commands (arguments one per line, no word splitting).
	(IFS='
'
	 set -f
	 qemu-io $(cat ops.txt) "$4" >/dev/null) || { echo "qemu-io failed"; return 1; }
}

# Everything gureum shows of FILE equals what QEMU shows: data, map, check.
same_as_qemu() { # FILE
	qemu-img info "$1" | grep -q "extended l2: true" || { echo "not extended L2"; return 1; }
	"$G" img info "$1" | grep -q "extended l2: true" ||
		{ echo "gureum img info does not say extended l2: true"; return 1; }
	qemu-img convert -O raw "$1" q.raw && "$G" img convert -O raw "$1" g.raw &&
		cmp q.raw g.raw || { echo "contents differ"; return 1; }
	qemu-img map --output=json "$1" >q.map && "$G" img map --output=json "$1" >g.map &&
		diff q.map g.map || { echo "maps differ"; return 1; }
	expect_status 0 qemu-img check "$1" >/dev/null && expect_status 0 "$G" img check "$1"
}

standalone() { # CLUSTER_BYTES SEED
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size="$1" e.qcow2 8M &&
		qemu_ops "$2" "$1" 8388608 e.qcow2 && same_as_qemu e.qcow2
}
run "64k clusters, no backing: reads, map and check as qemu" standalone 65536 1
run "16k clusters, no backing: reads, map and check as qemu" standalone 16384 2
run "2M clusters, no backing: reads, map and check as qemu" standalone 2097152 3

over_backing() { # BACKING_FORMAT SEED
	if [ "$1" = raw ]; then
		qemu-img create -q -f raw b.img 6M
	else
		qemu-img create -q -f qcow2 b.img 6M
	fi
	# A backing file shorter than the overlay, with data everywhere (and a hole).
	qemu-io -f "$1" -c "write -P 0xbb 0 6M" -c "write -z 1M 128k" b.img >/dev/null &&
	qemu-img create -q -f qcow2 -F "$1" -b b.img -o extended_l2=on,cluster_size=64k e.qcow2 8M &&
	qemu_ops "$2" 65536 8388608 e.qcow2 && same_as_qemu e.qcow2
}
run "64k clusters over a qcow2 backing file: unallocated subclusters show through" \
	over_backing qcow2 4
run "64k clusters over a raw backing file: unallocated subclusters show through" \
	over_backing raw 5

# A hand-written sequence where each subcluster state is known: allocated, zero over an
# allocated cluster, zero in an unallocated cluster, unallocated in an allocated cluster,
# discarded (over a backing file: zero) and compressed.
subcluster_states() {
	qemu-img create -q -f qcow2 b.img 4M && qemu-io -c "write -P 0x77 0 4M" b.img >/dev/null &&
	qemu-img create -q -f qcow2 -F qcow2 -b b.img -o extended_l2=on,cluster_size=64k e.qcow2 4M &&
	qemu-io -c "write -P 0x11 0 2k" -c "write -P 0x22 6k 3k" -c "write -z 64k 4k" \
		-c "write -P 0x33 128k 64k" -c "discard 130k 2k" -c "write -z 150k 2k" \
		-c "write -c -P 0x44 256k 64k" -c "write -P 0x55 1M 33k" -c "discard 1M 8k" \
		e.qcow2 >/dev/null && same_as_qemu e.qcow2
}
run "each subcluster state reads and maps as qemu" subcluster_states

# Layout of a fresh qemu-img image with 64k clusters: header, refcount table, refcount block
# (cluster 2), L1 table; the first write allocates the L2 table (cluster 4) then data.
set_refcount() { # FILE CLUSTER VALUE: 16-bit refcount in the first refcount block
	printf "\\$(printf '%03o' $(($3 >> 8)))\\$(printf '%03o' $(($3 & 255)))" |
		dd of="$1" bs=1 seek=$((131072 + 2 * $2)) conv=notrunc 2>/dev/null
}
leak_found_and_repaired() {
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k k.qcow2 8M &&
	qemu-io -c "write 0 256k" -c "write -P 1 300k 2k" -c "discard 64k 64k" k.qcow2 >/dev/null &&
	set_refcount k.qcow2 6 1 &&
	expect_status 3 qemu-img check k.qcow2 && expect_status 3 "$G" img check k.qcow2 &&
	expect_status 0 "$G" img check --repair k.qcow2 && expect_status 0 qemu-img check k.qcow2 &&
	! qemu-img check k.qcow2 | grep -q leaked
}
run "leaked cluster: found by both, repaired by gureum" leak_found_and_repaired

# Subcluster 0 of guest cluster 0 both allocated and zero: the bitmap is the second half of the
# first L2 entry (L2 table in cluster 4).
bad_bitmap() {
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k k.qcow2 8M &&
	qemu-io -c "write -P 9 0 4k" k.qcow2 >/dev/null &&
	l2=$(od -An -j 40 -N 8 -t x8 --endian=big k.qcow2 | tr -d ' ') &&
	l2=$(od -An -j $((0x$l2)) -N 8 -t x8 --endian=big k.qcow2 | tr -d ' ') &&
	l2=$((0x${l2#??} & ~511)) && [ "$l2" -eq 262144 ] && # without the flags byte
	printf '\000\000\000\001\000\000\000\003' |
		dd of=k.qcow2 bs=1 seek=$((l2 + 8)) conv=notrunc 2>/dev/null &&
	expect_status 2 qemu-img check k.qcow2 >/dev/null 2>&1 &&
	expect_status 2 "$G" img check k.qcow2 &&
	! "$G" img convert -O raw k.qcow2 g.raw 2>err.txt && grep -q "corrupt" err.txt
}
run "subcluster both allocated and zero: corrupt for both, reads fail" bad_bitmap

writes_refused() {
	qemu-img create -q -f qcow2 -o extended_l2=on e.qcow2 1M &&
	! "$G" img io e.qcow2 -c "write 0 4k" 2>err.txt && grep -q "extended L2" err.txt &&
	"$G" img io -r e.qcow2 -c "read -P 0 0 4k"
}
run "writing refused with a clear error; reading works" writes_refused

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
