#!/usr/bin/env bash
# Runs every fuzz target (tests/fuzz/run_fuzz_*.sh) for a bounded time each, as CI does.
#   FUZZ_SECONDS=N tests/fuzz/run.sh   (default 30 s per target)
# One "PASS|FAIL fuzz-NAME: ..." line per target (scripts/check.sh counts them).
set -uo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-30}
status=0
for runner in run_fuzz_*.sh; do
	name=${runner#run_fuzz_}
	name=${name%.sh}
	log=$(mktemp)
	if sh "./$runner" "$seconds" >"$log" 2>&1; then
		echo "PASS fuzz-$name: $(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 || echo 'ran') in ${seconds}s, nothing found"
	else
		echo "FAIL fuzz-$name: last lines:"
		tail -40 "$log"
		status=1
	fi
	rm -f "$log"
done
exit $status
