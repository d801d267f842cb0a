# The VMM in its jail with the Debian guest (src/vmm/jail.h). gureum runs the default guest
# with a raw virtio disk (a file outside the jail, opened before it), user-mode networking and
# its API socket under --jail /run/vjail/root --user 2000000001. The guest reaches its shell,
# writes 1 MiB to its disk that L1 then reads back from the file (sha256 alike), and gets its
# DHCP lease from libslirp. L1 sees the VMM as uid 2000000001 without capabilities, filtered
# (seccomp), in a mount namespace of its own whose root holds the jail's file and no /usr. A
# snapshot through the API lands in the jail. `reboot -f` in the guest ends the VMM with
# status 4 and its sentence (a jailed VMM cannot open its files again). gureum only.
# lab-smp: 1
# lab-timeout: 300
. /lab/lib.sh
require_gureum
[ "${LAB_VMM:-gureum}" = gureum ] || lab_pass "gureum-only scenario (--jail); skipped for $LAB_VMM"

W=/run/vjail
JAIL=$W/root
USER_ID=2000000001
SOCK=$W/api.sock
rm -rf $W
mkdir -p $JAIL
echo "the VM's own file" >$JAIL/marker
chown $USER_ID:$USER_ID $JAIL
dd if=/dev/zero of=$W/disk.img bs=1M count=8 2>/dev/null

vm_boot vjail "$(gureum_cmd 1 --disk $W/disk.img,serial=vjail $(vm_user_net_opts "") \
	--api-socket $SOCK --jail $JAIL --user $USER_ID)"
grep -q "jail: the VMM's file system is $JAIL; it runs as uid $USER_ID" "$VM/stderr" ||
	lab_fail "no jail line in the VMM's stderr: $(cat "$VM/stderr")"

pid=
for p in /proc/[0-9]*; do
	if tr '\0' ' ' <$p/cmdline 2>/dev/null | grep -q -F -- "--jail $JAIL"; then
		pid=${p#/proc/}
		break
	fi
done
[ -n "$pid" ] || lab_fail "no VMM process with --jail $JAIL"
uid=$(awk '$1 == "Uid:" {print $2 $3 $4 $5}' /proc/$pid/status)
[ "$uid" = "$USER_ID$USER_ID$USER_ID$USER_ID" ] || lab_fail "the VMM's Uid line is $uid"
caps=$(awk '$1 == "CapEff:" {print $2}' /proc/$pid/status)
[ "$caps" = 0000000000000000 ] || lab_fail "the VMM keeps capabilities $caps"
[ "$(awk '$1 == "Seccomp:" {print $2}' /proc/$pid/status)" = 2 ] || lab_fail "the VMM is not filtered"
[ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] ||
	lab_fail "the VMM shares L1's mount namespace"
[ "$(cat /proc/$pid/root/marker)" = "the VM's own file" ] || lab_fail "the VMM's root is not $JAIL"
[ ! -e /proc/$pid/root/usr ] || lab_fail "L1's /usr shows in the jail"

sum=$(vm_run 60 "head -c 1048576 /dev/urandom >/tmp/r; dd if=/tmp/r of=/dev/vda bs=64k oflag=direct 2>/dev/null; sync; sha256sum </tmp/r | cut -d' ' -f1") ||
	lab_fail "the guest could not write its disk: $sum"
sum=$(echo "$sum" | tail -n 1)
l1_sum=$(head -c 1048576 $W/disk.img | sha256sum | cut -d' ' -f1)
[ "$sum" = "$l1_sum" ] || lab_fail "the disk file holds $l1_sum, the guest wrote $sum"

lease=$(vm_run 90 "ip link set eth0 up; udhcpc -i eth0 -q -n -t 10 2>&1 | grep 'has'") ||
	lab_fail "the guest got no DHCP lease in the jail: $lease"
case "$lease" in
*"eth0 has 10.0.2.15/24"*) ;;
*) lab_fail "unexpected lease: $lease" ;;
esac

/lab/bin/gureum ctl $SOCK snapshot /snap >$W/snap.out 2>&1 || lab_fail "snapshot: $(cat $W/snap.out)"
[ -s $JAIL/snap/memory ] || lab_fail "the snapshot is not in $JAIL/snap"

vm_send 'reboot -f'
status=$(vm_wait_exit 60)
[ "$status" = 4 ] || lab_fail "a reboot in the jail ended the VMM with $status, not 4"
grep -q "a VMM in its jail cannot open the VM's files again" "$VM/stderr" ||
	lab_fail "no reboot sentence: $(tail -n 3 "$VM/stderr")"
lab_pass "uid $USER_ID, CapEff 0, seccomp, own mount namespace rooted in the jail; 1 MiB written to the disk read back in L1; DHCP lease; a snapshot in the jail; reboot -> status 4"
