#!/bin/sh
# Lazy refcounts against Debian's qemu-img/qemu-io, both ways:
#  - an image created by qemu-img with lazy_refcounts=on is written by gureum (synchronously and
#    through the asynchronous interface) and killed with SIGKILL at pseudo-random moments; it is
#    left dirty, gureum repairs it when opening it read-write again, and then qemu-img check
#    finds nothing at all (not even leaks), the dirty flag is gone and every flushed write is
#    there;
#  - an image created by gureum with lazy_refcounts=on is written by qemu-io, which then aborts
#    (a crash with refcounts never written); gureum repairs it on open and allocates new clusters
#    without destroying what QEMU flushed.
#   usage: tests/block/lazy.sh [path/to/gureum] [kills]
# Prints "N passed, M failed" last; exits non-zero if anything failed.
set -u
G=$(realpath "${1:-build/gureum}")
N=${2:-8}
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || {
	echo "qemu-img/qemu-io not found (apt-get install qemu-utils)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
dirty() { qemu-img info --output=json "$1" | grep -q '"dirty-flag": true'; }

awk -v n="$N" 'BEGIN { srand(5); for (i = 0; i < n; i++) print int(40 + rand() * 400) }' >delays
i=0
while read -r delay; do
	i=$((i + 1))
	mode=""
	[ $((i % 2)) -eq 0 ] && mode=--async
	rm -f d.qcow2 gens
	qemu-img create -f qcow2 -o lazy_refcounts=on,cluster_size=4k d.qcow2 32M >/dev/null
	"$G" img crashtest write "$i" d.qcow2 $mode >gens 2>/dev/null &
	pid=$!
	sleep "$(awk -v d="$delay" 'BEGIN { print d / 1000 }')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	gen=$(tail -n 1 gens)
	gen=${gen:-0}
	name="qemu lazy image, gureum ${mode:-sync} writer killed after ${delay} ms (generation $gen)"
	dirty d.qcow2 || { fail "$name" "not left dirty"; continue; }
	"$G" img io d.qcow2 -c flush 2>repair.log || { fail "$name" "reopen: $(cat repair.log)"; continue; }
	grep -q "rebuilding refcounts" repair.log || { fail "$name" "no repair message"; continue; }
	[ "$(wc -l <repair.log)" -eq 1 ] ||
		{ fail "$name" "repair printed more than one line: $(head -3 repair.log)"; continue; }
	qemu-img check d.qcow2 >check.log 2>&1 || { fail "$name" "check: $(head -3 check.log)"; continue; }
	dirty d.qcow2 && { fail "$name" "still dirty"; continue; }
	qemu-img convert -O raw d.qcow2 out.raw &&
		"$G" img crashtest verify "$i" "$gen" out.raw 2>verify.log ||
		{ fail "$name" "flushed data lost: $(head -3 verify.log)"; continue; }
	ok "$name"
done <delays

lazy_image_written_by_qemu() {
	"$G" img create -f qcow2 -o lazy_refcounts=on d.qcow2 64M >/dev/null || return 1
	qemu-img info d.qcow2 | grep -q "lazy refcounts: true" ||
		{ echo "qemu-img does not see lazy refcounts"; return 1; }
	qemu-io -c "write -P 0x55 0 8M" -c flush -c "write -P 0x66 16M 1M" -c abort d.qcow2 \
		>/dev/null 2>&1
	dirty d.qcow2 || { echo "qemu-io did not leave the image dirty"; return 1; }
	"$G" img io d.qcow2 -c "write -P 0x77 32M 8M" -c "read -P 0x55 0 8M" ||
		{ echo "gureum could not repair, write or read back"; return 1; }
	qemu-img check d.qcow2 || return 1
	out=$(qemu-io -r -c "read -P 0x55 0 8M" -c "read -P 0x77 32M 8M" d.qcow2 2>&1)
	echo "$out"
	[ "$(echo "$out" | grep -c 'read 8388608/8388608')" -eq 2 ] &&
		! echo "$out" | grep -q "verification failed"
}
rm -f d.qcow2
if lazy_image_written_by_qemu >log 2>&1; then
	ok "gureum lazy image, qemu-io aborts, gureum repairs and writes"
else
	fail "gureum lazy image, qemu-io aborts, gureum repairs and writes" "$(tail -5 log)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
