#!/usr/bin/env python3
"""Counts what one `meson test` run really did, case by case, for scripts/check.sh.

    scripts/test-summary.py BUILD_DIR/meson-logs/testlog.json LABEL

meson counts test programs; a Criterion program holds many cases, some of which may skip
(cr_skip_test) while the program as a whole passes. Criterion runs with --verbose here
(criterion_args in meson.build), so every case leaves a [PASS], [FAIL] or [SKIP] line, and
those are what is counted. A program without such lines (a shell test, the differential test)
counts as one test by meson's verdict; its exit status 77 is a skip whose reason is the last
line it printed that says SKIP (or its last line). A Criterion program that failed, timed out
or crashed without a failing case (e.g. killed by meson's timeout) adds one failure.
Lines starting "RETRIED:" (tests/lab/host-or-lab.sh) are reported as retries.

Output, one record per line (read by scripts/check.sh):
    COUNT <passed> <failed> <skipped>
    SKIP <label>: <test>: <reason>
    RETRY <label>: <test>: <note>
    FAIL <label>: <test>
"""
import json
import re
import sys

CASE = re.compile(r"^\[(PASS|FAIL|SKIP)\] (\S+?)(?:: (.*))?$")
RETRIED = re.compile(r"^RETRIED: (.*)$")


def output_of(entry):
    return (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")


def skip_reason(lines):
    for line in reversed(lines):
        if "SKIP" in line.upper() and line.strip():
            return line.strip()
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return "no reason given"


def summarize(entries, label):
    passed = failed = skipped = 0
    records = []
    for entry in entries:
        name = entry["name"].split(" / ", 1)[-1]
        result = entry["result"]
        lines = output_of(entry).splitlines()
        cases = [m for m in (CASE.match(line) for line in lines) if m]
        for line in lines:
            retry = RETRIED.match(line)
            if retry:
                records.append(f"RETRY {label}: {name}: {retry.group(1)}")
        if cases:
            case_failures = 0
            for case in cases:
                verdict, case_name, detail = case.group(1), case.group(2), case.group(3)
                if verdict == "PASS":
                    passed += 1
                elif verdict == "SKIP":
                    skipped += 1
                    records.append(f"SKIP {label}: {case_name}: {detail or 'no reason given'}")
                else:
                    failed += 1
                    case_failures += 1
                    records.append(f"FAIL {label}: {case_name}")
            if result not in ("OK", "EXPECTEDFAIL") and case_failures == 0:
                failed += 1
                records.append(f"FAIL {label}: {name} ({result.lower()})")
            continue
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
            records.append(f"SKIP {label}: {name}: {skip_reason(lines)}")
        else:
            failed += 1
            records.append(f"FAIL {label}: {name} ({result.lower()})")
    return passed, failed, skipped, records


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test-summary.py TESTLOG.json LABEL")
    entries = []
    try:
        with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
            entries = [json.loads(line) for line in log if line.strip()]
    except OSError as err:
        sys.exit(f"test-summary: cannot read {sys.argv[1]}: {err}")
    passed, failed, skipped, records = summarize(entries, sys.argv[2])
    print(f"COUNT {passed} {failed} {skipped}")
    for record in records:
        print(record)


if __name__ == "__main__":
    main()
