#!/usr/bin/env bash
# Extracts the uncompressed ELF kernel (vmlinux) from a Linux bzImage, for booting it through
# its PVH entry note. Tries each compressed-payload signature found in the image (lz4 legacy,
# zstd, xz, gzip, bzip2, lzma) until one decompresses to an ELF file.
#   usage: scripts/extract-vmlinux.sh BZIMAGE OUTPUT
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BZIMAGE OUTPUT" >&2; exit 2; }
image=$1
out=$2
[[ -r $image ]] || { echo "extract-vmlinux: cannot read $image" >&2; exit 1; }

try() { # try SIGNATURE DECOMPRESSOR...
	local sig=$1 offset
	shift
	for offset in $(LC_ALL=C grep -obUaP "$sig" "$image" | cut -d: -f1); do
		tail -c +$((offset + 1)) "$image" | "$@" >"$out.tmp" 2>/dev/null || true
		if [[ $(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
			mv "$out.tmp" "$out"
			return 0
		fi
	done
	return 1
}

if try '\x02\x21\x4c\x18' lz4 -dc || try '\x28\xb5\x2f\xfd' zstd -dc ||
	try '\xfd\x37\x7a\x58\x5a\x00' xz -dc || try '\x1f\x8b\x08' gzip -dc ||
	try 'BZh' bzip2 -dc || try '\x5d\x00\x00' xz --format=lzma -dc; then
	echo "extract-vmlinux: $out"
	exit 0
fi
rm -f "$out.tmp"
echo "extract-vmlinux: no compressed ELF kernel found in $image" >&2
exit 1
