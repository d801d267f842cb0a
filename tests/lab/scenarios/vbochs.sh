# --display adapter=bochs (gureum only): Debian's generic kernel (linux-image-amd64, the
# out/guest-generic guest) drives gureum's bochs-display with its bochs DRM driver, and the
# guest's mode changes reach VNC clients:
# 1. a client (vnc-tool size, libvncclient) connects before the guest's driver loads and sees
#    the --display size, 1280x720;
# 2. the guest's log shows bochs binding ("Found bochs VGA", the EDID found, fb0 through DRM's
#    fbdev emulation) and fbcon on it at 800x600 (video=800x600 on the command line): the
#    client is sent the new size (NewFBSize) and ends at 800x600;
# 3. the EDID's preferred mode is the --display size: the connector's first mode is 1280x720;
# 4. the guest writes two lines to /dev/tty0; gureum's screendump is 800x600, Debian's
#    vncsnapshot captures the same picture over VNC, and tesseract reads the lines off it;
# 5. poweroff, exit status 0.
# lab-smp: 1
# lab-timeout: 900
# lab-extra: display generic
. /lab/lib.sh
require_gureum
[ "$(lab_vmm)" = gureum ] || lab_fail "vbochs tests gureum's bochs-display (no QEMU equivalent here)"
for tool in vncsnapshot tesseract vnc-tool image-tool; do
	command -v $tool >/dev/null || lab_fail "no $tool in the lab (scripts/install-deps.sh, then rebuild: make)"
done
L2_KERNEL=/lab/l2-generic/vmlinuz
L2_INITRD=/lab/l2-generic/initramfs.cpio.gz
[ -f $L2_KERNEL ] && [ -f $L2_INITRD ] ||
	lab_fail "no generic-kernel guest in the lab (out/lab/generic.cpio: LAB_BUILD_GENERIC=1 scripts/lab-initramfs.sh)"

SOCK=/run/vbochs.sock
PORT=5900
VNC=127.0.0.1:$PORT

# 1. A client from the start: it follows the guest's mode change.
vnc-tool --wait 120 $VNC size 600 800x600 >/tmp/size 2>/dev/null &
sizer=$!
# tty0 first: the last console= is /dev/console, where the guest's shell must stay (ttyS0).
L2_CMDLINE="console=tty0 video=800x600 $L2_CMDLINE"
vm_boot vbochs "$(gureum_cmd 1 --display vnc=$VNC,adapter=bochs,width=1280,height=720 --api-socket $SOCK)"

# 2. The guest's driver and console.
log=$(vm_run 30 "dmesg | grep -E 'bochs|drm|frame buffer'") ||
	lab_fail "no bochs or drm lines in the guest's log"
for line in 'Found bochs VGA, ID 0xb0c' 'Found EDID data blob' 'fb0: bochs-drmdrmfb frame buffer device' \
	'switching to colour frame buffer device 100x37'; do
	echo "$log" | grep -q "$line" || lab_fail "no '$line' in the guest's log: $log"
done
wait $sizer || lab_fail "the VNC client did not end at 800x600: $(cat /tmp/size)"
grep -q '^first 1280x720$' /tmp/size || lab_fail "the client did not start at 1280x720: $(cat /tmp/size)"
grep -q 'the screen is 800x600 now' "$VM/stderr" || lab_fail "gureum did not log the new size"
DETAIL="bochs-drm bound (EDID, fb0 via DRM fbdev, fbcon 100x37); a VNC client went 1280x720 -> 800x600;"

# 3. The EDID's preferred mode.
first=$(vm_run 30 "head -n1 /sys/class/drm/card0-*/modes") || lab_fail "no DRM connector modes"
echo "$first" | grep -q '^1280x720' || lab_fail "the connector's first (preferred) mode is '$first', not 1280x720"
DETAIL="$DETAIL EDID preferred 1280x720;"

# 4. Text on the screen at the new size, captured by vncsnapshot and by gureum.
screen_text_check $SOCK $PORT
echo "$SCREEN_DUMP" | grep -q '800x600' || lab_fail "the screendump is not 800x600: $SCREEN_DUMP"
DETAIL="$DETAIL screendump 800x600 = vncsnapshot ($SCREEN_SAME); OCR: '$SCREEN_TEXT'"

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$DETAIL"
