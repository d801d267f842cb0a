#!/bin/sh
# Builds the qcow2 libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS (default
# 60), starting from a few valid images made by qemu-img and gureum as seeds (inputs up to
# 128 KiB: an image with extended L2 entries is 96 KiB).
#   usage: tests/fuzz/run_fuzz_qcow2.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
. "$(dirname "$0")/fuzz_build.sh"
mkdir -p "$OUT/corpus"
SRC="$ROOT/src/block/block.c $ROOT/src/block/raw.c $ROOT/src/block/qcow2.c
     $ROOT/src/block/aio.c $ROOT/src/block/aio_threads.c $ROOT/src/block/aio_uring.c
     $ROOT/src/block/qcow2_check.c $ROOT/src/block/qcow2_snapshot.c
     $ROOT/src/block/qcow2_cache.c $ROOT/src/block/qcow2_cluster.c
     $ROOT/src/block/qcow2_header.c $ROOT/src/block/qcow2_refcount.c
     $ROOT/src/block/qcow2_writeback.c $ROOT/src/block/qcow2_async.c $ROOT/src/lib/log.c
     $ROOT/src/lib/size.c $ROOT/src/block/bounce_pool.c $ROOT/src/lib/huge_pages.c"
# shellcheck disable=SC2086
fuzz_build fuzz_qcow2 $SRC -lz -lzstd -luring
if command -v qemu-img >/dev/null && [ ! -e "$OUT/corpus/seed-plain" ]; then
	qemu-img create -q -f qcow2 -o cluster_size=512 "$OUT/corpus/seed-plain" 64k
	qemu-io -c "write -P 7 0 3k" -c "write -z 8k 4k" "$OUT/corpus/seed-plain" >/dev/null
	qemu-img create -q -f raw "$OUT/seed.raw" 64k
	qemu-io -f raw -c "write -P 9 0 20k" "$OUT/seed.raw" >/dev/null
	qemu-img convert -c -O qcow2 -o cluster_size=4k "$OUT/seed.raw" "$OUT/corpus/seed-zlib"
	qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=1k "$OUT/corpus/seed-v2" 32k
	rm -f "$OUT/seed.raw"
fi
if command -v qemu-img >/dev/null && [ ! -e "$OUT/corpus/seed-snapshots" ]; then
	qemu-img create -q -f qcow2 -o cluster_size=512 "$OUT/corpus/seed-snapshots" 16k
	qemu-io -c "write -P 1 0 2k" "$OUT/corpus/seed-snapshots" >/dev/null
	qemu-img snapshot -c one "$OUT/corpus/seed-snapshots"
	qemu-io -c "write -P 2 1k 2k" "$OUT/corpus/seed-snapshots" >/dev/null
	qemu-img snapshot -c two "$OUT/corpus/seed-snapshots"
fi
# Extended L2 entries need clusters of at least 16 KiB: the smallest such image with data is six
# clusters (header, refcount table and block, L1, L2, data).
if command -v qemu-img >/dev/null && [ ! -e "$OUT/corpus/seed-extl2" ]; then
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k "$OUT/corpus/seed-extl2" 256k
	qemu-io -c "write -P 3 0 1k" -c "write -z 2k 1k" -c "write -P 4 12k 2k" \
		-c "discard 12k 512" "$OUT/corpus/seed-extl2" >/dev/null
fi
exec "$OUT/fuzz_qcow2" -max_total_time="$SECONDS_TO_RUN" -max_len=131072 -timeout=10 \
	-rss_limit_mb=1024 "$OUT/corpus"
