# gureum boots the default guest with 4 GiB: RAM continues above 4 GiB past the PCI hole, and
# the guest must see (almost) all of it. Guest RAM is reserved lazily, so L1's 2 GiB suffice.
# lab-smp: 1
# lab-timeout: 240
. /lab/lib.sh
require_gureum
vm_start gureum "$(gureum_cmd 1 | sed 's/--memory [^ ]*/--memory 4G/')"
wait_console "$READY_MARKER" 1 180 || lab_fail "no '$READY_MARKER' on the console"
vm_send 'echo memtotal=$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)'
wait_console '^memtotal=[0-9]' 1 60 || lab_fail "the guest shell did not answer"
kb=$(tr -d '\r' <"$VM/console" | sed -n 's/^memtotal=\([0-9]*\)$/\1/p' | tail -n 1)
# 4 GiB minus the kernel's own reservations (a few percent) — but far more than the 3 GiB
# that fit below the PCI hole.
[ "${kb:-0}" -gt 3600000 ] || lab_fail "the guest sees MemTotal ${kb:-?} kB, expected about 4 GiB"
vm_send 'poweroff -f'
status=$(vm_wait_exit 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
lab_pass "gureum 4 GiB: guest MemTotal $kb kB, exit status 0"
