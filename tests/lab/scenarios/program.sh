# Runs the test program that tests/lab/host-or-lab.sh packed into /lab/program (a
# guest-payload, KVM or vhost-net test, on L1's real hardware-assisted KVM and devices) and
# reports its exit status. Not in the default list: it only makes sense with that archive.
# The output and status also go to the result disk (/dev/vda, from scripts/lab.sh
# --result-disk) when there is one: L1's interrupt-driven console has been seen to stall for
# good under TCG, and the disk does not depend on it.
# lab-smp: 2
# lab-timeout: 900
. /lab/lib.sh

[ -f /lab/program/cmd ] || lab_fail "no test in this L1 (run it through tests/lab/host-or-lab.sh)"
. /lab/program/env
mkdir -p "$(cat /lab/program/cwd)"
cd "$(cat /lab/program/cwd)" || lab_fail "cannot enter $(cat /lab/program/cwd)"
# Through a pipe into a file, as under meson: the program sees no terminal (no colours, no
# raw mode).
{
	sh /lab/program/cmd </dev/null 2>&1
	echo $? >/tmp/program-status
} | cat >/tmp/program-output
status=$(cat /tmp/program-status)
if [ -b /dev/vda ]; then
	{
		echo "PROGRAM-STATUS $status"
		cat /tmp/program-output
	} >/dev/vda
	sync
fi
echo "PROGRAM-OUTPUT-BEGIN"
cat /tmp/program-output
echo "PROGRAM-OUTPUT-END"
if [ "$status" -eq 0 ]; then
	lab_pass "PROGRAM-STATUS $status"
fi
lab_fail "PROGRAM-STATUS $status"
