#!/bin/sh
# busybox-static applets under `gureum emu-user`, each compared with the same command run
# natively: stdout and exit status must be identical. Then, when a C compiler with a static libc
# is present, probe.c (memory, files, fork/exec, signals, timers) and tiny assembly programs
# (fault report, ENOSYS). Usage: busybox.sh GUREUM
# Exit status: 0 all passed, 1 a case failed, 77 skipped (no /bin/busybox).
set -u
GUREUM=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "SKIP: $BUSYBOX (busybox-static) is not installed"; exit 77; }

WORK=$(mktemp -d /tmp/gureum-emu-user.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# Applets by name on PATH, so that sh runs them through fork + execve of busybox itself.
mkdir bin
for applet in sh echo cat sleep timeout kill tar sort md5sum sha256sum gzip gunzip awk sed wc tr cut seq head tail \
	uniq grep expr printf test rm ls; do
	ln -s "$BUSYBOX" "bin/$applet"
done
RUN_PATH=$WORK/bin
# An interpreter script on PATH: execve runs its "#!" interpreter (busybox sh) with it.
printf '#!%s sh\necho "greetings, $1: $(echo $# args)"\n' "$BUSYBOX" > bin/greet
chmod +x bin/greet

# About 1 MB of varied text, made natively.
"$BUSYBOX" seq 1 45000 | "$BUSYBOX" awk '{ printf "%d line %d word%d %s\n", $1, ($1 * $1) % 9973, $1 % 17, substr("abcdefghijklmnopqrstuvwxyz", $1 % 26 + 1, 5) }' > data.txt

passed=0
failed=0

# compare NAME: judges native.out/native_status against emu.out/emu_status.
compare() {
	if [ "$native_status" = "$emu_status" ] && cmp -s native.out emu.out; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1 (status native $native_status, emu-user $emu_status)"
		diff native.out emu.out | head -n 10
		head -n 5 emu.err
	fi
}

# check NAME APPLET [ARGS...]: compares stdout and exit status, native vs emulated.
check() {
	name=$1 applet=$2
	shift 2
	env PATH="$RUN_PATH" "$applet" "$@" > native.out 2> native.err
	native_status=$?
	# argv[0] under the emulator is the full path; the applet name is the same.
	env PATH="$RUN_PATH" "$GUREUM" emu-user "$WORK/bin/$applet" "$@" > emu.out 2> emu.err
	emu_status=$?
	compare "$name"
}

# expect NAME STATUS STDERR-WORDS COMMAND...: an emu-user run that must fail a given way.
expect() {
	name=$1 want_status=$2 words=$3
	shift 3
	env PATH="$RUN_PATH" "$GUREUM" emu-user "$@" > emu.out 2> emu.err
	status=$?
	if [ "$status" = "$want_status" ] && grep -q "$words" emu.err; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name (status $status, wanted $want_status and '$words' on stderr)"
		head -n 5 emu.err
	fi
}

check echo echo hello, emulated world
check printf printf '%s=%05d %x\n' answer 42 255
check sh-loops-arithmetic-functions sh -c '
	square() { echo $(( $1 * $1 )); }
	total=0
	for i in 1 2 3 4 5 6 7 8 9 10; do total=$(( total + $(square $i) )); done
	echo "sum of squares: $total"
	n=27 steps=0
	while [ $n -ne 1 ]; do
		if [ $(( n % 2 )) -eq 0 ]; then n=$(( n / 2 )); else n=$(( 3 * n + 1 )); fi
		steps=$(( steps + 1 ))
	done
	echo "collatz 27: $steps steps"
	case "$total" in 385) echo matched;; *) echo no;; esac'
check script greet world again
check sh-runs-script sh -c 'greet from-sh; echo "status $?"'
check sh-exit-status sh -c 'exit 42'
check sh-redirections sh -c 'seq 1 100 > f.txt; wc -l < f.txt; cat f.txt f.txt | tail -n 2; rm f.txt'
check sh-pipeline sh -c 'seq 1 5000 | sort -r | head -n 3 | tr 0-9 a-j'
check sh-signals-trap-wait sh -c 'trap "echo trapped USR1" USR1; kill -USR1 $$
	trap "echo trapped TERM" TERM; (sleep 0.1; kill -TERM $$) & sleep 1; wait; echo "waited $?"'
check timeout-kills-child timeout 1 sleep 3
check sh-gzip-roundtrip sh -c 'gzip -c < data.txt | gunzip -c | md5sum'
check tar-gzip-pipeline sh -c 'tar czf - data.txt | tar xzOf - | md5sum'
check sort sort data.txt
check sort-numeric-key sort -n -k 3 -k 1r data.txt
check sort-unique-reverse sort -u -r -k 4 data.txt
check md5sum md5sum data.txt
check sha256sum sha256sum data.txt
check gzip-bytes gzip -9 -c data.txt
check awk-sums awk '{ s += $3; c[$4]++ } END { print s, NR; for (k in c) n++; print n }' data.txt
check awk-printf awk -F' ' '$4 == "word5" { printf "%s:%.3f\n", $1, $3 / 7 }' data.txt
check sed sed -e 's/line/LINE/g' -e '/5 /d' -e '3,7p' data.txt
check wc wc data.txt
check tr sh -c 'tr a-z A-Z < data.txt'
check cut cut -d ' ' -f 2,3,5 data.txt
check seq seq -w 1 3 2000
check grep-count grep -c 'word1[0-6]' data.txt
check uniq-count sh -c 'cut -d " " -f 4 data.txt | sort | uniq -c'

if cc -static -O2 -o probe "$HERE/probe.c" 2> /dev/null; then
	./probe > native.out 2> native.err
	native_status=$?
	"$GUREUM" emu-user ./probe > emu.out 2> emu.err
	emu_status=$?
	compare probe
fi

expect stats-line 0 "instructions in .* MIPS" --stats "$WORK/bin/echo" quiet
expect dynamic-program-refused 126 "dynamically linked" /bin/true
expect missing-program 127 "No such file" "$WORK/does-not-exist"
if command -v cc > /dev/null 2>&1; then
	printf '.globl _start\n_start:\n\txor %%eax, %%eax\n\tmovl $1, (%%rax)\n' > crash.S
	if cc -nostdlib -static -o crash crash.S 2> /dev/null; then
		expect fault-reported-as-sigsegv 139 "SIGSEGV.*address 0x0" ./crash
	fi
	# io_uring_setup twice, then exit with its result: -ENOSYS (38) -> status 218.
	printf '.globl _start\n_start:\n\tmov $425, %%eax\n\tsyscall\n\tmov $425, %%eax\n\tsyscall\n\tmov %%eax, %%edi\n\tmov $231, %%eax\n\tsyscall\n' > enosys.S
	if cc -nostdlib -static -o enosys enosys.S 2> /dev/null; then
		expect unknown-syscall-enosys 218 "unsupported system call io_uring_setup" --verbose ./enosys
		if [ "$(grep -c io_uring_setup emu.err)" != 1 ]; then
			failed=$((failed + 1))
			echo "FAIL unknown-syscall-warned-once"
		fi
	fi
fi

echo "emu-user busybox: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
