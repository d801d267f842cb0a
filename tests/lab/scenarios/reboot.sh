# Guest reboot: with --on-reboot exit the VMM exits 0 and says the guest rebooted; with the
# default (restart) the guest boots again to the ready marker, then powers off with status 0.
# lab-smp: 1
# lab-timeout: 360
. /lab/lib.sh
require_gureum

vm_start "$LAB_VMM-exit" "$(vmm_cmd 1 exit)"
wait_console "$READY_MARKER" 1 120 || lab_fail "on-reboot exit: no '$READY_MARKER' on the console"
vm_send 'reboot -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "on-reboot exit: exit status $status after 'reboot -f' (expected 0)"
if [ "$LAB_VMM" = gureum ]; then
	grep -q -i 'reboot' "$VM/stderr" || lab_fail "on-reboot exit: gureum did not say the guest rebooted"
fi
vm_kill

vm_start "$LAB_VMM-restart" "$(vmm_cmd 1)"
wait_console "$READY_MARKER" 1 120 || lab_fail "on-reboot restart: no '$READY_MARKER' on the console"
vm_send 'reboot -f'
wait_console "$READY_MARKER" 2 150 ||
	lab_fail "on-reboot restart: the guest did not come back to '$READY_MARKER' after 'reboot -f'"
vm_send 'poweroff -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "on-reboot restart: exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$LAB_VMM: reboot with on-reboot exit -> status 0; restart -> ready twice, status 0"
