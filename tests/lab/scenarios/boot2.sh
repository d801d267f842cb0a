# gureum boots the default guest with 2 vCPUs; the guest must see both, then power off with 0.
# A 2-vCPU L2 needs 2 vCPUs in L1 (with one, L2 stalls during boot).
# lab-smp: 2
# lab-timeout: 240
. /lab/lib.sh
require_gureum
vm_start "$LAB_VMM" "$(vmm_cmd 2)"
wait_console "$READY_MARKER" 1 180 || lab_fail "no '$READY_MARKER' on the console"
vm_send 'echo cpus=$(grep -c ^processor /proc/cpuinfo)'
wait_console '^cpus=[0-9]' 1 60 || lab_fail "the guest shell did not answer"
cpus=$(tr -d '\r' <"$VM/console" | sed -n 's/^cpus=\([0-9]*\)$/\1/p' | tail -n 1)
[ "$cpus" = 2 ] || lab_fail "the guest sees $cpus CPUs in /proc/cpuinfo, expected 2"
vm_send 'poweroff -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$LAB_VMM 2 vCPUs: guest saw 2 CPUs, exit status 0"
