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
# Topology from CPUID: one package of 2 single-threaded cores, APIC IDs 0 and 1.
vm_send 'echo topo=$(grep -E "^(cpu cores|siblings|apicid)" /proc/cpuinfo | tr -d " \t" | tr "\n" ,)'
wait_console '^topo=' 1 60 || lab_fail "the guest shell did not answer the topology query"
topo=$(tr -d '\r' <"$VM/console" | sed -n 's/^topo=//p' | tail -n 1)
[ "$topo" = "siblings:2,cpucores:2,apicid:0,siblings:2,cpucores:2,apicid:1," ] ||
	lab_fail "guest topology is '$topo', expected 2 cores x 1 thread with APIC IDs 0 and 1"
vm_send 'poweroff -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$LAB_VMM 2 vCPUs: guest saw 2 CPUs (2 cores, APIC IDs 0 and 1), exit status 0"
