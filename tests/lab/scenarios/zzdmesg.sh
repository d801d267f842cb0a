# lab-smp: 2
# lab-timeout: 200
. /lab/lib.sh
require_gureum
vm_start gureum "$(gureum_cmd 2) --stats"
wait_console "$READY_MARKER" 1 120 || lab_fail "no ready"
vm_send 'dmesg -n 1; dmesg > /dev/null; dmesg | grep -iE "warn|err|fail|bug|acpi|pci|apic|clock|tsc|smp|cpu" | head -150; echo DONE-$((1+1))'
wait_console "DONE-2" 1 60
vm_send 'poweroff -f'
vm_wait_exit 60
cat $VM/console | tail -200
cat $VM/stderr
lab_pass "dump"
