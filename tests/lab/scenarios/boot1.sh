# gureum boots the default guest with 1 vCPU, runs a shell command, powers off with status 0.
# lab-smp: 1
# lab-timeout: 180
. /lab/lib.sh
require_gureum
check_shell_boot "$LAB_VMM" "$(vmm_cmd 1)"
lab_pass "$LAB_VMM 1 vCPU: $BOOT_DETAIL"
