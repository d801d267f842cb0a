# gureum boots the same Debian kernel as an ELF vmlinux through its PVH entry note (32-bit
# protected mode entry, hvm_start_info with the memory map, initrd module and RSDP address),
# runs a shell command and powers off with status 0.
# lab-smp: 1
# lab-timeout: 240
. /lab/lib.sh
require_gureum
[ -f /lab/l2/vmlinux ] || lab_fail "no /lab/l2/vmlinux in the lab (scripts/guest-image.sh makes it)"
L2_KERNEL=/lab/l2/vmlinux
check_shell_boot gureum "$(gureum_cmd 1)"
grep -q "PVH" "$VM/stderr" && lab_fail "gureum complained about PVH: $(cat "$VM/stderr")"
lab_pass "gureum PVH entry: $BOOT_DETAIL"
