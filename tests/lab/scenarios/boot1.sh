# gureum boots the default guest with 1 vCPU, runs a shell command, powers off with status 0.
. /lab/lib.sh
require_gureum
check_shell_boot gureum "$(gureum_cmd 1)"
lab_pass "gureum 1 vCPU: $BOOT_DETAIL"
