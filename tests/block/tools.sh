#!/bin/sh
# gureum img map/resize/commit/rebase/snapshot/create -o preallocation/convert -c against
# Debian's qemu-img: the same operation on the same images must give what qemu-img gives
# (map output byte for byte, contents by qemu-img compare), and every image must check clean.
#   usage: tests/block/tools.sh [path/to/gureum]
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

run() {
	name=$1; shift
	rm -rf "$T/w" && mkdir "$T/w" && cd "$T/w" || exit 1
	if ("$@") >"$T/log" 2>&1; then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$T/log"
	fi
	cd "$T" || exit 1
}

qio() { qemu-io "$@" >/dev/null; }
clean() { qemu-img check "$1" >/dev/null 2>&1 && ! qemu-img check "$1" 2>&1 | grep -q leaked; }

# A three-level chain written by qemu-io: raw base, qcow2 middle (data, zeroes), qcow2 top
# (data, a compressed cluster, zeroes over the middle's data).
make_chain() {
	qemu-img create -f raw base.raw 8M >/dev/null &&
	qio -f raw -c "write -P 1 0 3M" -c "write -P 9 6M 1M" base.raw &&
	qemu-img create -f qcow2 -b base.raw -F raw mid.qcow2 >/dev/null &&
	qio -c "write -P 2 512k 192k" -c "write -z 2M 64k" -c "write -P 7 5M 1M" mid.qcow2 &&
	qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 >/dev/null &&
	qio -c "write -P 3 3M 100k" -c "write -c -P 4 1M 64k" -c "write -z 5M 128k" \
		-c "write -P 5 7M 4k" top.qcow2
}

map_same() { # FILE
	qemu-img map --output=json "$1" >q.json && "$G" img map --output=json "$1" >g.json &&
	cmp q.json g.json
}
map_chain() { make_chain && map_same top.qcow2 && map_same mid.qcow2 && map_same base.raw; }
run "map --output=json equals qemu-img's on a 3-level chain (data, zero, compressed)" map_chain
map_human() {
	make_chain && qemu-img map mid.qcow2 >q.txt && "$G" img map mid.qcow2 >g.txt && cmp q.txt g.txt
}
run "map (human) equals qemu-img's" map_human

# commit: the same merge by both tools leaves equal chains, and the emptied overlay is clean.
commit_same() {
	make_chain && mkdir q && cp base.raw mid.qcow2 top.qcow2 q/ &&
	(cd q && qemu-img commit top.qcow2 >/dev/null) && "$G" img commit top.qcow2 >/dev/null &&
	qemu-img compare mid.qcow2 q/mid.qcow2 && qemu-img compare top.qcow2 q/top.qcow2 &&
	clean mid.qcow2 && clean top.qcow2 && map_same top.qcow2
}
run "commit into a qcow2 backing file equals qemu-img commit" commit_same
commit_raw() {
	make_chain && cp base.raw ref.raw && qemu-img convert -O raw mid.qcow2 want.raw &&
	"$G" img commit -d mid.qcow2 >/dev/null && qemu-img compare base.raw want.raw &&
	qemu-img compare mid.qcow2 want.raw
}
run "commit -d into a raw backing file: base equals the overlay's view" commit_raw

# rebase: the guest's view must not change in safe mode; -u only renames.
rebase_safe() { # NEW_BACKING ("" for none)
	make_chain && qemu-img convert -O raw top.qcow2 before.raw &&
	"$G" img rebase -b "$1" ${1:+-F raw} top.qcow2 &&
	qemu-img compare top.qcow2 before.raw && clean top.qcow2 &&
	if [ -n "$1" ]; then qemu-img info top.qcow2 | grep -q "^backing file: $1\$"
	else ! qemu-img info top.qcow2 | grep -q "^backing file"; fi
}
run "rebase onto the raw base (skipping the middle) keeps the contents" rebase_safe base.raw
run "rebase onto nothing (flatten) keeps the contents" rebase_safe ""
rebase_like_qemu() {
	make_chain && mkdir q && cp base.raw mid.qcow2 top.qcow2 q/ &&
	(cd q && qemu-img rebase -b base.raw -F raw top.qcow2) &&
	"$G" img rebase -b base.raw -F raw top.qcow2 && qemu-img compare top.qcow2 q/top.qcow2 &&
	map_same top.qcow2
}
run "rebase result equals qemu-img rebase's (contents and map)" rebase_like_qemu
rebase_unsafe() {
	make_chain && mv mid.qcow2 moved.qcow2 && "$G" img rebase -u -b moved.qcow2 -F qcow2 top.qcow2 &&
	qemu-img info top.qcow2 | grep -q "^backing file: moved.qcow2" &&
	qemu-io -c "read -P 2 512k 192k" -c "read -P 3 3M 100k" top.qcow2 | grep -q "read 102400"
}
run "rebase -u renames a moved backing file without opening the old one" rebase_unsafe

# snapshot: an external overlay over the current image.
snapshot() {
	make_chain && "$G" img snapshot top.qcow2 snap.qcow2 &&
	qemu-img info snap.qcow2 | grep -q "^backing file: top.qcow2" &&
	qemu-img compare snap.qcow2 top.qcow2 && "$G" img io snap.qcow2 -c "write -P 8 0 64k" &&
	qio -c "read -P 1 0 64k" top.qcow2 && clean snap.qcow2
}
run "snapshot creates an overlay that takes new writes, the base unchanged" snapshot

# resize: grow past the L1 table's cluster (the table moves), shrink only with --shrink.
resize_grow() {
	"$G" img create -f qcow2 -o cluster_size=512 g.qcow2 1M && qio -c "write -P 6 0 1M" g.qcow2 &&
	"$G" img resize g.qcow2 +40M >/dev/null && clean g.qcow2 &&
	qemu-img info g.qcow2 | grep -q "virtual size: 41 MiB" &&
	qio -c "read -P 6 0 1M" -c "read -P 0 1M 40M" -c "write -P 7 40M 1M" g.qcow2 && clean g.qcow2
}
run "resize grows (L1 table moves), data kept, new space reads zero" resize_grow
resize_shrink() {
	qemu-img create -f qcow2 s.qcow2 8M >/dev/null && qio -c "write -P 6 0 8M" s.qcow2 &&
	! "$G" img resize s.qcow2 4M 2>err && grep -q shrink err &&
	"$G" img resize --shrink s.qcow2 3000k >/dev/null && clean s.qcow2 &&
	qemu-img info s.qcow2 | grep -q "virtual size: 2.93 MiB" && qio -c "read -P 6 0 3000k" s.qcow2 &&
	"$G" img resize s.qcow2 8M >/dev/null && qio -c "read -P 0 3000k 5192k" s.qcow2 && clean s.qcow2
}
run "resize refuses to shrink without --shrink; with it, the rest reads zero after growing" resize_shrink
resize_raw() {
	qemu-img create -f raw r.raw 1M >/dev/null && "$G" img resize r.raw 3M >/dev/null &&
	[ "$(stat -c %s r.raw)" = 3145728 ]
}
run "resize grows a raw file" resize_raw

# create -o preallocation: every mode checks clean and reads zeroes; metadata maps like QEMU's.
prealloc() { # MODE
	"$G" img create -f qcow2 -o preallocation="$1" p.qcow2 4M && clean p.qcow2 &&
	qio -c "read -P 0 0 4M" p.qcow2 && qemu-img create -f qcow2 -o preallocation="$1" q.qcow2 4M >/dev/null &&
	qemu-img map --output=json p.qcow2 | grep -q '"data": true' &&
	[ "$(stat -c %s p.qcow2)" -ge 4194304 ] &&
	if [ "$1" != metadata ]; then [ "$(du -k p.qcow2 | cut -f1)" -ge 4096 ]; fi &&
	"$G" img io p.qcow2 -c "write -P 3 100k 1M" && qio -c "read -P 3 100k 1M" p.qcow2 && clean p.qcow2
}
for mode in metadata falloc full; do run "create -o preallocation=$mode" prealloc $mode; done
prealloc_raw() {
	"$G" img create -f raw -o preallocation=full r.raw 2M && [ "$(du -k r.raw | cut -f1)" -ge 2048 ]
}
run "create raw -o preallocation=full allocates the file" prealloc_raw

# convert -c: compressed clusters qemu-img reads back, smaller than uncompressed.
convert_compressed() {
	make_chain && "$G" img convert -c -O qcow2 top.qcow2 c.qcow2 && clean c.qcow2 &&
	qemu-img compare c.qcow2 top.qcow2 && "$G" img convert -O qcow2 top.qcow2 u.qcow2 &&
	[ "$(stat -c %s c.qcow2)" -lt "$(stat -c %s u.qcow2)" ] &&
	qemu-img map --output=json c.qcow2 | grep -q '"data": true}' &&
	"$G" img io c.qcow2 -c "write -P 5 1M 4k" && clean c.qcow2 && qio -c "read -P 5 1M 4k" c.qcow2
}
run "convert -c writes compressed clusters qemu-img reads back" convert_compressed
convert_compressed_small() {
	head -c 3000000 /dev/urandom >rnd.raw && cat rnd.raw rnd.raw >two.raw &&
	truncate -s 6M two.raw && "$G" img convert -c -O qcow2 -o cluster_size=4k two.raw c.qcow2 &&
	clean c.qcow2 && qemu-img compare c.qcow2 two.raw
}
run "convert -c with incompressible data and 4k clusters" convert_compressed_small

# progress: shown only on a terminal or with -p.
progress() {
	qemu-img create -f raw r.raw 4M >/dev/null &&
	"$G" img convert -O qcow2 r.raw a.qcow2 >out && [ ! -s out ] &&
	"$G" img convert -p -O qcow2 r.raw b.qcow2 >out && grep -q "100.0%" out
}
run "progress bar only with -p when stdout is not a terminal" progress

# Refcount table growth: QEMU sizes the table for what it has written so far; gureum must grow
# it (moving it past the covered range) when the image fills up.
reftable_offset() { od -An -tu8 --endian=big -j48 -N8 "$1" | tr -d ' '; }
reftable_growth() { # OPTIONS
	qemu-img create -f qcow2 -o "cluster_size=512,$1" r.qcow2 64M >/dev/null &&
	before=$(reftable_offset r.qcow2) &&
	"$G" img io r.qcow2 -c "write -P 5 0 20M" -c "write -P 6 30M 8M" &&
	[ "$(reftable_offset r.qcow2)" != "$before" ] && clean r.qcow2 &&
	qio -c "read -P 5 0 20M" -c "read -P 0 20M 10M" -c "read -P 6 30M 8M" r.qcow2
}
run "refcount table grows on a QEMU image with 512-byte clusters" reftable_growth refcount_bits=16
run "refcount table grows with 8-bit refcounts" reftable_growth refcount_bits=8

# Internal snapshots (made by qemu-img): check counts their tables, writes copy shared L2
# tables and clusters, and every snapshot still reads as it was.
make_snapshots() {
	qemu-img create -f qcow2 s.qcow2 8M >/dev/null && qio -c "write -P 1 0 2M" s.qcow2 &&
	qemu-img snapshot -c one s.qcow2 && qio -c "write -P 2 1M 2M" s.qcow2 &&
	qemu-img snapshot -c two s.qcow2 && qio -c "write -P 3 64k 64k" s.qcow2
}
json_field() { grep "\"$2\"" "$1" | tr -dc 0-9; }
snapshot_check() {
	make_snapshots && qemu-img check --output=json s.qcow2 >q.json &&
	"$G" img check --json s.qcow2 >g.json && [ "$(json_field g.json corruptions)" = 0 ] &&
	[ "$(json_field g.json leaks)" = 0 ] &&
	[ "$(json_field g.json allocated-clusters)" = "$(json_field q.json allocated-clusters)" ] &&
	[ "$(json_field g.json image-end-offset)" = "$(json_field q.json image-end-offset)" ]
}
run "check counts internal snapshots (agrees with qemu-img check)" snapshot_check
snapshot_write() {
	make_snapshots && "$G" img io s.qcow2 -c "write -P 9 1500k 1M" -c "write -P 8 5M 64k" &&
	clean s.qcow2 && "$G" img check s.qcow2 >/dev/null &&
	qio -c "read -P 9 1500k 1M" -c "read -P 3 64k 64k" -c "read -P 2 2524k 500k" s.qcow2 &&
	qemu-img snapshot -a two s.qcow2 && qio -c "read -P 1 0 1M" -c "read -P 2 1M 2M" s.qcow2 &&
	qemu-img snapshot -a one s.qcow2 && qio -c "read -P 1 0 2M" -c "read -P 0 2M 6M" s.qcow2 &&
	clean s.qcow2
}
run "writes to an image with internal snapshots leave the snapshots intact" snapshot_write
snapshot_corrupt() {
	make_snapshots && table=$(od -An -tu8 --endian=big -j64 -N8 s.qcow2 | tr -d ' ') &&
	printf '\377\377\377\377\377\377\376\000' |
		dd of=s.qcow2 bs=1 seek="$table" conv=notrunc 2>/dev/null &&
	! "$G" img check s.qcow2 >out 2>&1 && grep -qi snapshot out
}
run "a snapshot L1 table outside the file is reported, not followed" snapshot_corrupt

# bench: the same requests as qemu-img bench (offsets step and wrap), and the data lands.
bench_writes() { # DEPTH CACHE
	qemu-img create -f qcow2 b.qcow2 4M >/dev/null &&
	"$G" img bench -f qcow2 -w --pattern=7 -c 100 -d "$1" -t "$2" -s 8k -S 24k -o 4k b.qcow2 >out &&
	grep -q "^Sending 100 write requests, 8192 bytes each, $1 in parallel" out &&
	grep -q "^Run completed in" out && clean b.qcow2 &&
	qio -c "read -P 0 0 4k" -c "read -P 7 4k 8k" -c "read -P 0 12k 16k" -c "read -P 7 28k 8k" b.qcow2 &&
	qemu-img map --output=json b.qcow2 | grep -q '"data": true'
}
run "bench -w at depth 1 writes its pattern where qemu-img bench would" bench_writes 1 writeback
run "bench -w at depth 32 with -t none (O_DIRECT)" bench_writes 32 none

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
