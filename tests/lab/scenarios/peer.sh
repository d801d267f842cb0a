# Lab self-check: Debian's QEMU microvm (accel=kvm) boots the default guest inside L1.
# lab-smp: 1
# lab-timeout: 180
. /lab/lib.sh
check_shell_boot qemu "$(qemu_cmd 1)"
lab_pass "qemu microvm: $BOOT_DETAIL"
