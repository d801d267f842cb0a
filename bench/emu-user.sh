#!/usr/bin/env bash
# emu-user benchmark: the same static programs natively, under Debian's qemu-x86_64 (qemu-user,
# a dynamic binary translator) and under `gureum emu-user` (an interpreter), side by side.
#   bench/emu-user.sh [--mb N] [--keep]
# Needs build/gureum (GUREUM_BIN overrides), busybox-static, qemu-user. Workloads (busybox
# applets on an N MB text file, default 50): sha256sum, gzip -6 to /dev/null, and sort of a
# tenth of the file. Prints wall time per runner, instructions per second, and the slowdown of
# gureum against native and against QEMU.
#
# Instruction counts: perf's hardware counters are not available on these (virtual) machines,
# so every runner's instructions-per-second uses the count gureum's --stats reports for the same
# run. Natively the program may take other code paths (glibc string routines chosen by CPUID,
# busybox's SHA-NI sha256), so the native and QEMU MIPS columns are "gureum-equivalent"
# instructions per second; the wall-time ratios are exact.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUREUM_BIN=${GUREUM_BIN:-$ROOT/build/gureum}
BUSYBOX=/bin/busybox
MB=50
KEEP=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--mb) MB=${2:?--mb needs a size}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: $0 [--mb N] [--keep]" >&2; exit 2 ;;
	esac
done
die() { echo "emu-user bench: $*" >&2; exit 1; }
[[ -x $GUREUM_BIN ]] || die "$GUREUM_BIN is not built (meson setup build && ninja -C build)"
[[ -x $BUSYBOX ]] || die "$BUSYBOX missing (apt-get install busybox-static)"
QEMU=$(command -v qemu-x86_64 || true)
[[ -n $QEMU ]] || die "qemu-x86_64 missing (apt-get install qemu-user)"

# Input files are shared between runs (made once, atomically); outputs go to a private
# directory so that two benchmarks running at once do not compare each other's files.
WORK=$ROOT/out/bench/emu-user
mkdir -p "$WORK"
OUT=$(mktemp -d "$WORK/run.XXXXXX")
DATA=$WORK/data-${MB}M.txt
SORT_DATA=$WORK/sort-${MB}M.txt
MADE_DATA=0
if [[ $KEEP == 1 ]]; then
	trap 'rm -rf "$OUT"' EXIT
else
	trap 'rm -rf "$OUT"; [[ $MADE_DATA == 0 ]] || rm -f "$DATA" "$SORT_DATA"' EXIT
fi
if [[ ! -s $DATA ]]; then
	echo "making ${MB} MB of text..." >&2
	MADE_DATA=1
	# Varied, moderately compressible lines, made natively with busybox awk.
	"$BUSYBOX" awk -v bytes=$((MB << 20)) 'BEGIN {
		srand(1); n = 0
		while (n < bytes) {
			line = sprintf("%08d %s %d %x word%d\n", NR++, substr("the quick brown fox jumps over the lazy dog", int(rand() * 30) + 1, 12), int(rand() * 1e6), int(rand() * 65536), int(rand() * 100))
			printf "%s", line; n += length(line)
		}
	}' >"$OUT/data.txt"
	mv "$OUT/data.txt" "$DATA"
fi
if [[ ! -s $SORT_DATA ]]; then
	head -c $(((MB << 20) / 10)) "$DATA" | "$BUSYBOX" sed '$d' >"$OUT/sort.txt" # whole lines
	mv "$OUT/sort.txt" "$SORT_DATA"
fi

# time_run OUT CMD...: runs CMD with stdout to OUT, prints wall seconds.
time_run() {
	local out=$1 start end
	shift
	start=$(date +%s.%N)
	"$@" >"$out"
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}

# bench NAME APPLET ARGS...: one row of the table.
bench() {
	local name=$1 applet=$2
	shift 2
	local native qemu gureum insns
	native=$(time_run "$OUT/native.out" "$BUSYBOX" "$applet" "$@")
	qemu=$(time_run "$OUT/qemu.out" "$QEMU" "$BUSYBOX" "$applet" "$@")
	gureum=$(time_run "$OUT/gureum.out" "$GUREUM_BIN" emu-user --stats "$BUSYBOX" "$applet" \
		"$@" 2>"$OUT/stats.out")
	insns=$(awk '/instructions in/ { print $2 }' "$OUT/stats.out")
	cmp -s "$OUT/native.out" "$OUT/qemu.out" || die "$name: qemu output differs from native"
	cmp -s "$OUT/native.out" "$OUT/gureum.out" || die "$name: gureum output differs from native"
	awk -v n="$name" -v i="${insns:-0}" -v a="$native" -v q="$qemu" -v g="$gureum" 'BEGIN {
		printf "%-16s %14.0f %9.3f %9.3f %9.3f %9.0f %9.0f %9.0f %9.1fx %9.1fx\n", n, i, a, q, g,
			i / a / 1e6, i / q / 1e6, i / g / 1e6, g / a, g / q
	}'
}

echo "emu-user benchmark: busybox applets on a ${MB} MB file; $(nproc) CPUs, $(uname -r)"
printf '%-16s %14s %9s %9s %9s %9s %9s %9s %10s %10s\n' workload instructions native-s qemu-s \
	gureum-s nat-MIPS qemu-MIPS gur-MIPS gur/native gur/qemu
bench sha256sum sha256sum "$DATA"
bench gzip gzip -6 -c "$DATA"
bench sort sort "$SORT_DATA"
echo "instructions: gureum --stats count for the run (no hardware counters here); MIPS = that / wall"
