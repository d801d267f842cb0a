#!/bin/sh
# Crash consistency: `gureum img crashtest write` writes generations of patterned data and
# write-zeroes into an image, flushing after each and printing the generation it flushed; it is
# killed with SIGKILL at pseudo-random moments (fixed seed). After each kill the image must pass
# `qemu-img check` (leaked clusters allowed) and, read back by QEMU, hold every flushed write
# (sectors the unflushed generation touched may hold either version). The metadata is cached
# between flushes (writeback), so a kill usually lands with dirty L2 tables and refcount blocks
# in memory and allocating writes in flight: every second round of configurations runs the
# writer asynchronously (block_submit, a generation's writes in flight together, FLUSH requests).
#   usage: tests/block/crash.sh [path/to/gureum] [iterations]
set -u
G=$(realpath "${1:-build/gureum}")
N=${2:-30}
command -v qemu-img >/dev/null || { echo "qemu-img not found (apt-get install qemu-utils)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
passed=0
failed=0

# Delays in milliseconds (30..600), from a fixed seed so a failure can be replayed.
awk -v n="$N" 'BEGIN { srand(20261126); for (i = 0; i < n; i++) print int(30 + rand() * 570) }' >delays

# Configuration i (cycled): fresh qcow2; qcow2 over a patterned raw base; 512-byte clusters
# (many refcount block allocations and a growing refcount table); version 2; 8-bit refcounts.
make_image() { # I
	base=""
	case $(($1 % 5)) in
	0) "$G" img create -f qcow2 d.qcow2 32M ;;
	1) "$G" img create -f raw base.raw 32M && "$G" img crashtest fill base.raw &&
	   "$G" img create -f qcow2 -b base.raw -F raw d.qcow2 && base=--base ;;
	2) qemu-img create -f qcow2 -o cluster_size=512 d.qcow2 32M >/dev/null ;;
	3) "$G" img create -f qcow2 -o compat=0.10,cluster_size=4k d.qcow2 32M ;;
	4) "$G" img create -f qcow2 -o refcount_bits=8,cluster_size=16k d.qcow2 32M ;;
	esac
}

i=0
while read -r delay; do
	i=$((i + 1))
	rm -f d.qcow2 base.raw out.raw gens
	make_image "$i" || { failed=$((failed + 1)); echo "FAIL $i: cannot create image"; continue; }
	mode=""
	[ $(((i - 1) / 5 % 2)) -eq 1 ] && mode=--async
	"$G" img crashtest write "$i" d.qcow2 $mode >gens 2>err &
	pid=$!
	sleep "$(awk -v d="$delay" 'BEGIN { print d / 1000 }')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	gen=$(tail -n 1 gens)
	gen=${gen:-0}
	problem=""
	qemu-img check d.qcow2 >check.log 2>&1
	rc=$?
	# 0: clean; 3: only leaked clusters
	[ $rc -eq 0 ] || [ $rc -eq 3 ] || problem="qemu-img check exit $rc: $(head -5 check.log)"
	if [ -z "$problem" ]; then
		qemu-img convert -O raw d.qcow2 out.raw &&
		"$G" img crashtest verify "$i" "$gen" $base out.raw 2>verify.log ||
			problem="flushed data lost: $(head -5 verify.log)"
	fi
	if [ -z "$problem" ]; then
		passed=$((passed + 1))
		echo "ok   $i: ${mode:-sync} killed after ${delay} ms at generation $gen (check exit $rc)"
	else
		failed=$((failed + 1))
		echo "FAIL $i: killed after ${delay} ms at generation $gen: $problem"
	fi
done <delays

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
