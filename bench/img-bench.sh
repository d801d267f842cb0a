#!/bin/sh
# gureum img bench side by side with qemu-img bench, on the same image files with the same
# options: 4 KiB scattered reads/writes (qemu-img bench has no random mode: a large prime step
# that wraps around the image scatters the requests the same way for both tools) and 1 MiB
# sequential I/O; raw, qcow2 fully allocated, qcow2 fresh (writes allocate), qcow2 over a raw
# backing file; queue depth 1 and 32. Prints IOPS of both and gureum/QEMU.
#   usage: bench/img-bench.sh [path/to/gureum]
#   env:   SIZE (image size, default 256M), CACHE (writeback|none, default writeback),
#          N4K / N1M (request counts, default 20000 / 256), DIR (scratch dir, default /var/tmp),
#          REPEAT (runs per measurement, default 3: the fastest counts, which filters out the
#          noise of other work on the machine; both tools get the same treatment)
set -u
G=$(realpath "${1:-build/gureum}")
SIZE=${SIZE:-256M}
CACHE=${CACHE:-writeback}
N4K=${N4K:-20000}
N1M=${N1M:-256}
REPEAT=${REPEAT:-3}
command -v qemu-img >/dev/null || { echo "qemu-img not found (apt-get install qemu-utils)"; exit 77; }
W=$(mktemp -d "${DIR:-/var/tmp}/img-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
STEP=$((7919 * 4096)) # prime multiple of 4 KiB: wraps around the image in a scattered order

echo "preparing images ($SIZE) in $W ..."
qemu-img create -f raw full.raw "$SIZE" >/dev/null
qemu-io -f raw -c "write -P 1 0 $SIZE" full.raw >/dev/null
qemu-img convert -f raw -O qcow2 full.raw full.qcow2
qemu-img create -f qcow2 fresh.qcow2 "$SIZE" >/dev/null
qemu-img create -f qcow2 -b full.raw -F raw overlay.qcow2 "$SIZE" >/dev/null

# once TOOL IMAGE ARGS...: runs one bench on a private copy of IMAGE (writes change it).
once() {
	tool=$1 image=$2; shift 2
	cp --sparse=always "$image" run.img
	[ "$image" = overlay.qcow2 ] && qemu-img rebase -u -b full.raw -F raw run.img
	sync
	case $tool in
	qemu) qemu-img bench -t "$CACHE" "$@" run.img ;;
	gureum) "$G" img bench -t "$CACHE" "$@" run.img ;;
	esac | sed -n 's/^Run completed in \([0-9.]*\) seconds./\1/p'
	rm -f run.img
}

# seconds TOOL IMAGE ARGS...: the fastest of REPEAT runs.
seconds() {
	r=0
	while [ "$r" -lt "$REPEAT" ]; do
		once "$@"
		r=$((r + 1))
	done | sort -n | head -n 1
}

printf '%-14s %-22s %5s %12s %12s %8s\n' image workload depth qemu-IOPS gureum-IOPS ratio
bench() { # IMAGE FORMAT WORKLOAD DEPTH COUNT ARGS...
	image=$1 fmt=$2 name=$3 depth=$4 count=$5; shift 5
	q=$(seconds qemu "$image" -f "$fmt" -d "$depth" -c "$count" "$@")
	g=$(seconds gureum "$image" -f "$fmt" -d "$depth" -c "$count" "$@")
	awk -v i="$image" -v n="$name" -v d="$depth" -v c="$count" -v q="$q" -v g="$g" 'BEGIN {
		if (q == "" || g == "" || q == 0 || g == 0) { printf "%-14s %-22s %5s   (failed: qemu=%s gureum=%s)\n", i, n, d, q, g; exit }
		printf "%-14s %-22s %5s %12.0f %12.0f %7.2fx\n", i, n, d, c / q, c / g, q / g }'
}

for image in full.raw:raw full.qcow2:qcow2 fresh.qcow2:qcow2 overlay.qcow2:qcow2; do
	file=${image%%:*} fmt=${image##*:}
	for depth in 1 32; do
		bench "$file" "$fmt" "4k scattered read" "$depth" "$N4K" -s 4k -S "$STEP"
		bench "$file" "$fmt" "4k scattered write" "$depth" "$N4K" -s 4k -S "$STEP" -w
		bench "$file" "$fmt" "1M sequential read" "$depth" "$N1M" -s 1M
		bench "$file" "$fmt" "1M sequential write" "$depth" "$N1M" -s 1M -w
	done
done
