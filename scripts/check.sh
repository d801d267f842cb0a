#!/usr/bin/env bash
# The whole test suite, as CI runs it (make check):
#   1. unit tests, guest-payload tests and the layering check (meson test) on the normal build
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. fuzz targets for a bounded time
#   4. the nested lab: the Debian cloud kernel booted by gureum under real hardware-assisted KVM
# Prints one line per stage and, last, "N passed, N failed" over all tests.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failed_stages=()

# Adds meson's "Ok:/Fail:" summary of a test log to the totals.
count_meson() {
	local log=$1 ok fail timeout
	ok=$(grep -E '^Ok: ' "$log" | tail -1 | awk '{print $2}')
	fail=$(grep -E '^Fail: ' "$log" | tail -1 | awk '{print $2}')
	timeout=$(grep -E '^Timeout: ' "$log" | tail -1 | awk '{print $2}')
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0} + ${timeout:-0}))
}

stage() {
	local name=$1
	shift
	echo "=== check: $name"
	if "$@"; then
		echo "=== check: $name: ok"
	else
		echo "=== check: $name: FAILED"
		failed_stages+=("$name")
	fi
}

meson_tests() {
	local dir=$1
	shift
	local log
	log=$(mktemp)
	meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	count_meson "$log"
	rm -f "$log"
	return "$rc"
}

build() {
	local dir=$1
	shift
	[[ -f $dir/build.ninja ]] || meson setup "$dir" "$@" >/dev/null || return 1
	ninja -C "$dir"
}

lab_tests() {
	local log
	log=$(mktemp)
	tests/lab/run.sh 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [[ -n $line ]]; then
		passed=$((passed + $(echo "$line" | awk '{print $1}')))
		failed=$((failed + $(echo "$line" | awk '{print $3}')))
	else
		failed=$((failed + 1))
	fi
	rm -f "$log"
	return "$rc"
}

stage "build" build build
stage "unit and guest tests" meson_tests build
stage "sanitizer build" build build-asan -Db_sanitize=address,undefined
sanitized_tests() {
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson_tests build-asan --suite unit --suite guests
}
stage "unit and guest tests under ASan/UBSan" sanitized_tests
if [[ -x tests/fuzz/run.sh ]]; then
	stage "fuzzing (bounded)" tests/fuzz/run.sh
fi
stage "guest image" scripts/guest-image.sh
stage "nested lab" lab_tests

# The README's quick start: `make run` without a terminal must boot to the shell and end by
# itself with status 0.
quick_start_run() {
	local log
	log=$(mktemp)
	scripts/run.sh </dev/null >"$log" 2>&1
	local rc=$?
	tail -5 "$log"
	if [[ $rc -eq 0 ]] && grep -q "gureum-guest: ready" "$log"; then
		passed=$((passed + 1))
		rm -f "$log"
		return 0
	fi
	failed=$((failed + 1))
	echo "make run: status $rc; last lines:"
	tail -40 "$log"
	rm -f "$log"
	return 1
}
stage "make run without a terminal" quick_start_run

echo
if [[ ${#failed_stages[@]} -gt 0 ]]; then
	echo "check: failed stages: ${failed_stages[*]}"
	[[ $failed -eq 0 ]] && failed=${#failed_stages[@]}
fi
echo "$passed passed, $failed failed"
[[ ${#failed_stages[@]} -eq 0 && $failed -eq 0 ]]
