#!/usr/bin/env bash
# Checks that every #include "..." in src/ and tests/unit/ goes to the file's own layer or to a
# layer below it, in the order scripts/layers.txt declares. Prints one line per violation,
#   src/x/y.c:LINE: includes "z/w.h": layer x may not include from z (above it)
# and exits 1 if there is any. Usage: scripts/check-layers.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-"$(dirname "$0")/.."}
cd "$root"
layers_file=scripts/layers.txt

# level[layer]: the line the layer is on, counted from the top (0 is the highest).
declare -A level=()
layers=()
n=0
while read -r line; do
	line=${line%%#*}
	read -ra names <<<"$line"
	((${#names[@]})) || continue
	for name in "${names[@]}"; do
		if [[ -n ${level[$name]+set} ]]; then
			echo "$layers_file: layer $name is declared twice" >&2
			exit 2
		fi
		level[$name]=$n
		layers+=("$name")
	done
	n=$((n + 1))
done <"$layers_file"

# The helpers below answer in REPLY (no subshells: they run for every include).

# The layer of a path relative to src/: the longest declared layer that is the path or one of
# its parent directories. Empty when none is.
layer_of() {
	local path=$1 layer
	REPLY=""
	for layer in "${layers[@]}"; do
		if [[ $path == "$layer" || $path == "$layer"/* ]] && ((${#layer} > ${#REPLY})); then
			REPLY=$layer
		fi
	done
}

# The layer tests/unit/NAME/ tests: NAME itself, or the one layer whose last part is NAME.
test_layer() {
	local name=$1 layer
	REPLY=""
	if [[ -n ${level[$name]+set} ]]; then
		REPLY=$name
		return
	fi
	for layer in "${layers[@]}"; do
		if [[ ${layer##*/} == "$name" ]]; then
			if [[ -n $REPLY ]]; then
				REPLY="" # ambiguous: no layer
				return
			fi
			REPLY=$layer
		fi
	done
}

# The layer of a file, from its path relative to the source root; empty if it is in none (a
# test's own helper outside tests/unit/NAME/, say).
layer_of_file() {
	local file=$1 dir
	REPLY=""
	case $file in
	src/*) layer_of "${file#src/}" ;;
	tests/unit/*/*)
		dir=${file#tests/unit/}
		test_layer "${dir%%/*}"
		;;
	esac
}

# Normalises a/./b/../c to a/c.
normalise() {
	local IFS=/ part out=()
	for part in $1; do
		case $part in
		"" | .) ;;
		..) ((${#out[@]})) && unset 'out[${#out[@]}-1]' ;;
		*) out+=("$part") ;;
		esac
	done
	REPLY="${out[*]}"
}

violations=0
report() {
	echo "$1"
	violations=$((violations + 1))
}

# Every quoted include, as FILE:LINE:PATH (awk reads all files in one pass).
mapfile -t files < <(find src tests/unit -name '*.[ch]' | sort)
while IFS=: read -r file lineno inc; do
	# The file's own layer, and for a unit test the sub-layers it may reach into too.
	layer_of_file "$file"
	own=$REPLY
	test_of=""
	[[ $file == tests/* ]] && test_of=$own
	if [[ -z $own ]]; then
		report "$file:$lineno: the file is in no layer of $layers_file"
		continue
	fi
	# As the compiler looks: beside the including file first, then in src/ (-Isrc).
	normalise "${file%/*}/$inc"
	target=$REPLY
	if [[ ! -f $target ]]; then
		normalise "src/$inc"
		target=$REPLY
	fi
	if [[ ! -f $target ]]; then
		report "$file:$lineno: includes \"$inc\", which is neither beside it nor in src/"
		continue
	fi
	layer_of_file "$target"
	to=$REPLY
	if [[ -z $to ]]; then
		[[ $target == src/* ]] && report "$file:$lineno: includes \"$inc\", which is in no layer of $layers_file"
		continue # a test's own helper
	fi
	[[ $to == "$own" ]] && continue
	if [[ -n $test_of && $to == "$test_of"/* ]]; then
		continue
	fi
	if ((level[$to] < level[$own])); then
		report "$file:$lineno: includes \"$inc\": layer $own may not include from $to (above it)"
	elif ((level[$to] == level[$own])); then
		report "$file:$lineno: includes \"$inc\": layer $own may not include from $to (beside it)"
	fi
done < <(awk '
	match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
		inc = substr($0, RSTART, RLENGTH)
		sub(/^[^"]*"/, "", inc)
		sub(/"$/, "", inc)
		print FILENAME ":" FNR ":" inc
	}' "${files[@]}")

if ((violations)); then
	echo "$violations include(s) against the layer order of $layers_file (docs/architecture.md)" >&2
	exit 1
fi
