#!/usr/bin/env bash
# The whole test suite, as CI runs it (make check):
#   1. build, and the default guest image (the real-kernel tests need it, so it comes first)
#   2. unit, guest-payload, KVM, interop and lint tests (meson test) on the normal build
#   3. the unit, guest-payload and KVM tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   4. fuzz targets for a bounded time
#   5. the nested lab: the Debian cloud kernel booted by gureum under real hardware-assisted KVM
#   6. the same Linux scenarios on gureum's software CPU (--accel emu), directly on this host
#   7. the README's quick start (`make run`) without a terminal
# Tests that need /dev/kvm (or /dev/vhost-net) run on this host when it has them and inside the
# nested lab otherwise (tests/lab/host-or-lab.sh): they are never skipped for want of a device.
# Counts are per test case (each Criterion case, each other test program, fuzz target and lab
# scenario). Prints one line per stage, then what was skipped (with the reason) and what passed
# only after a retry, and last "N passed, N failed, N skipped" (", N retried" when any).
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
failed_stages=()
skip_list=()
retry_list=()
fail_list=()

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

# count_meson BUILD_DIR LABEL: adds the cases of the last meson test run to the totals.
count_meson() {
	local record kind rest
	while IFS= read -r record; do
		kind=${record%% *}
		rest=${record#* }
		case $kind in
		COUNT)
			read -r p f s <<<"$rest"
			passed=$((passed + p))
			failed=$((failed + f))
			skipped=$((skipped + s))
			;;
		SKIP) skip_list+=("$rest") ;;
		RETRY) retry_list+=("$rest") ;;
		FAIL) fail_list+=("$rest") ;;
		esac
	done < <(python3 scripts/test-summary.py "$1/meson-logs/testlog.json" "$2" ||
		echo "COUNT 0 1 0")
}

meson_tests() {
	local dir=$1 label=$2
	shift 2
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs "$@"
	local rc=$?
	count_meson "$dir" "$label"
	return "$rc"
}

build() {
	local dir=$1
	shift
	[[ -f $dir/build.ninja ]] || meson setup "$dir" "$@" >/dev/null || return 1
	ninja -C "$dir"
}

# count_lines LOG LABEL: "PASS name: ..." / "FAIL name: ..." lines of the fuzz and lab runners;
# a "[RETRIED: ...]" note on a line is a retry.
count_lines() {
	local log=$1 label=$2 line name
	while IFS= read -r line; do
		name=${line#* }
		name=${name%%:*}
		case $line in
		PASS\ *) passed=$((passed + 1)) ;;
		FAIL\ *)
			failed=$((failed + 1))
			fail_list+=("$label: $name")
			;;
		esac
		if [[ $line == *"[RETRIED: "* ]]; then
			local note=${line#*\[RETRIED: }
			retry_list+=("$label: $name: ${note%]}")
		fi
	done < <(grep -E '^(PASS|FAIL) [^ ]+:' "$log")
}

# run_counted LABEL COMMAND...: runs a runner that prints PASS/FAIL lines, counts them; a runner
# that fails without any FAIL line (it could not run at all) counts as one failure.
run_counted() {
	local label=$1 log
	shift
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local before=$failed
	count_lines "$log" "$label"
	if [[ $rc -ne 0 && $failed -eq $before ]]; then
		failed=$((failed + 1))
		fail_list+=("$label: the runner failed (status $rc) without naming a failed test")
	fi
	rm -f "$log"
	return "$rc"
}

stage "build" build build
# Before the tests: the real-kernel unit tests and the nested lab boot this guest.
stage "guest image" scripts/guest-image.sh
stage "unit, guest, KVM, interop and lint tests" meson_tests build tests
stage "sanitizer build" build build-asan -Db_sanitize=address,undefined
sanitized_tests() {
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson_tests build-asan "asan" --suite unit --suite guests --suite daemon
}
stage "unit, guest, KVM and daemon tests under ASan/UBSan" sanitized_tests
# 20 s per target (run.sh alone: 30): 18 targets, and the whole run must stay well inside CI's
# 90 minutes.
stage "fuzzing (bounded)" run_counted fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" tests/fuzz/run.sh
stage "nested lab" run_counted lab tests/lab/run.sh
stage "Linux on the software CPU" run_counted lab-emu tests/lab/run.sh --accel emu

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
	fail_list+=("make run: status $rc")
	echo "make run: status $rc; last lines:"
	tail -40 "$log"
	rm -f "$log"
	return 1
}
stage "make run without a terminal" quick_start_run

echo
if [[ ${#skip_list[@]} -gt 0 ]]; then
	echo "check: skipped (${#skip_list[@]}):"
	printf '  %s\n' "${skip_list[@]}"
fi
if [[ ${#retry_list[@]} -gt 0 ]]; then
	echo "check: passed or failed only after a retry (${#retry_list[@]}):"
	printf '  %s\n' "${retry_list[@]}"
fi
if [[ ${#fail_list[@]} -gt 0 ]]; then
	echo "check: failed (${#fail_list[@]}):"
	printf '  %s\n' "${fail_list[@]}"
fi
if [[ ${#failed_stages[@]} -gt 0 ]]; then
	echo "check: failed stages: ${failed_stages[*]}"
	[[ $failed -eq 0 ]] && failed=${#failed_stages[@]}
fi
summary="$passed passed, $failed failed, $skipped skipped"
[[ ${#retry_list[@]} -eq 0 ]] || summary+=", ${#retry_list[@]} retried"
echo "$summary"
[[ ${#failed_stages[@]} -eq 0 && $failed -eq 0 ]]
