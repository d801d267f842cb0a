#!/usr/bin/env bash
# Runs every fuzz target (tests/fuzz/run_fuzz_*.sh) for a bounded time each, as CI does.
#   FUZZ_SECONDS=N tests/fuzz/run.sh   (default 30 s per target)
set -uo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-30}
status=0
for runner in run_fuzz_*.sh; do
	name=${runner#run_fuzz_}
	name=${name%.sh}
	log=$(mktemp)
	if sh "./$runner" "$seconds" >"$log" 2>&1; then
		echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 || echo 'ran'))"
	else
		echo "fuzz $name: FAILED — last lines:"
		tail -40 "$log"
		status=1
	fi
	rm -f "$log"
done
exit $status
