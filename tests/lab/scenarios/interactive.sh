# `make run` on a host without hardware virtualization: the user gets the L2 shell of the
# default guest under gureum, through L1's console. Not part of the test list.
# With lab.interactive=0 (make run without a terminal, e.g. CI) nobody types: the shell gets
# Ctrl-D (end of input) at its first prompt, exits, the guest powers off, gureum exits.
# lab-smp: 2
# lab-timeout: 300
. /lab/lib.sh
require_gureum
L2_MEMORY=512M

if [ "$LAB_INTERACTIVE" = 1 ]; then
	echo "lab: the guest's shell follows; leave it with 'poweroff -f' or Ctrl-D (Ctrl-A x quits gureum)"
	# The console is L1's ttyS0, a terminal: gureum puts it in raw mode itself.
	eval "$(vmm_cmd 2)"
	status=$?
	stty sane 2>/dev/null
	[ "$status" = 0 ] || lab_fail "gureum exited with status $status"
	lab_pass "gureum exited with status 0"
fi

vm_start "$LAB_VMM" "$(vmm_cmd 2)"
tail -f "$VM/console" &
tail_pid=$!
wait_console "$READY_MARKER" 1 240 || lab_fail "no '$READY_MARKER' on the console"
wait_console 'gureum-guest# ' 1 60 || lab_fail "no shell prompt on the console"
printf '\004' >&3
status=$(vm_wait_exit 60)
sleep 0.5
kill "$tail_pid" 2>/dev/null
echo
[ "$status" = 0 ] || lab_fail "exit status $status after the shell's end of input (expected 0)"
lab_pass "no terminal: the guest shell got end of input, the guest powered off, gureum exited 0"
