# --display (gureum only): the Debian cloud kernel, told of a linear framebuffer in its boot
# screen_info, binds efifb and puts fbcon on it (console=tty0), and gureum's VNC server shows
# it to real clients:
# 1. the guest's log names efifb's 1024x768x32 mode, fb0 and fbcon's 128x48 console;
# 2. the guest writes two lines to /dev/tty0; Debian's vncsnapshot captures the screen over VNC
#    (JPEG, quality 100), which matches gureum's own screendump (ctl screendump, PNG) decoded
#    to pixels (image-tool compare), and tesseract reads the two lines off the capture;
# 3. ten clients (vnc-tool watch, libvncclient) connected at once all receive a line the guest
#    writes next, while one client resets its connection mid-picture, one sends garbage and
#    one asks for a 65535x65535 update; the guest shell answers throughout;
# 4. idle: with fbcon's cursor blink off and nothing written, a client gets no update in 5 s,
#    and gureum's log shows what it was sent (the first picture only);
# 5. keys: a client types "echo typed-$((6*7)) >/dev/ttyS0" and Enter into the guest's shell
#    on tty1 (the default guest starts one when it has a framebuffer) through the PS/2
#    keyboard (input=ps2: no virtio-input devices), and the serial console shows typed-42;
# 6. poweroff, exit status 0.
# lab-smp: 1
# lab-timeout: 900
# lab-extra: display
. /lab/lib.sh
require_gureum
[ "$(lab_vmm)" = gureum ] || lab_fail "vdisplay tests gureum's --display (no QEMU equivalent here)"
for tool in vncsnapshot tesseract vnc-tool image-tool; do
	command -v $tool >/dev/null || lab_fail "no $tool in the lab (scripts/install-deps.sh, then rebuild: make)"
done

SOCK=/run/vdisplay.sock
PORT=5900
VNC=127.0.0.1:$PORT
# tty0 first: the last console= is /dev/console, where the guest's shell must stay (ttyS0).
L2_CMDLINE="console=tty0 $L2_CMDLINE"
# input=ps2: the keys go to the PS/2 keyboard alone (vinput tests the virtio tablet and
# keyboard of the default).
vm_boot vdisplay "$(gureum_cmd 1 --display vnc=$VNC,input=ps2 --api-socket $SOCK)"
DETAIL=

# 1. The guest's drivers.
log=$(vm_run 30 "dmesg | grep -E 'efifb: mode|frame buffer device'") ||
	lab_fail "no efifb or frame buffer lines in the guest's log"
echo "$log" | grep -q 'efifb: mode is 1024x768x32, linelength=4096' ||
	lab_fail "efifb did not take the 1024x768x32 framebuffer: $log"
echo "$log" | grep -q 'fb0: EFI VGA frame buffer device' || lab_fail "no fb0: $log"
echo "$log" | grep -q 'switching to colour frame buffer device 128x48' ||
	lab_fail "fbcon did not take the framebuffer: $log"

# 2. Text on the screen, captured by vncsnapshot and by gureum.
screen_text_check $SOCK $PORT
DETAIL="efifb 1024x768x32 and fbcon 128x48; vncsnapshot = screendump ($SCREEN_SAME); OCR: '$SCREEN_TEXT';"

# 3. Ten clients at once, and three that misbehave.
watchers=
for i in 1 2 3 4 5 6 7 8 9 10; do
	vnc-tool $VNC watch 120 1 >/tmp/watch$i 2>&1 &
	watchers="$watchers $!"
done
limit=$(($(date +%s) + 120))
while [ "$(cat /tmp/watch* 2>/dev/null | grep -c '^ready')" -lt 10 ]; do
	[ "$(date +%s)" -lt "$limit" ] || lab_fail "the ten clients did not all get a first picture: $(cat /tmp/watch*)"
	sleep 0.5
done
vnc-tool $VNC drop >/tmp/drop 2>&1 || lab_fail "vnc-tool drop: $(cat /tmp/drop)"
garbage=$(vnc-tool $VNC garbage 2>&1) || lab_fail "a client sending garbage was not dropped: $garbage"
huge=$(vnc-tool $VNC huge 2>&1) || lab_fail "a 65535x65535 update request: $huge"
vm_run 30 "echo 'ten clients watch this line' >/dev/tty0" >/dev/null ||
	lab_fail "the guest shell stopped answering while clients misbehaved"
# Only the watchers: a plain wait would wait for the VMM too.
wait $watchers
for i in 1 2 3 4 5 6 7 8 9 10; do
	updates=$(sed -n 's/^updates \([0-9]*\) .*/\1/p' /tmp/watch$i)
	[ "${updates:-0}" -ge 1 ] || lab_fail "client $i got no update for the new line: $(cat /tmp/watch$i)"
done
vm_run 30 "echo lab-\$((6*7))" | grep -q lab-42 || lab_fail "the guest shell does not answer"
DETAIL="$DETAIL 10 clients followed a new line while others reset, sent garbage ($garbage) and asked 65535x65535 ($huge);"

# 4. Idle: nothing drawn, nothing sent.
idle=$(vnc-tool --encodings tight $VNC watch 5) || lab_fail "the idle client failed: $idle"
echo "$idle" | grep -q '^updates 0 ' || lab_fail "an idle screen sent updates: $idle"
sleep 1
sent=$(grep 'left after' "$VM/stderr" | tail -n 1 | sed -n 's/.*left after [0-9.]* s (\([0-9]*\) bytes sent).*/\1/p')
[ -n "$sent" ] || lab_fail "gureum did not log the idle client's end: $(tail -n 5 "$VM/stderr")"
DETAIL="$DETAIL idle 5 s: 0 updates, $sent bytes sent in all (the first picture)"

# 5. Keys typed over VNC run in the guest's shell on tty1.
typed=$(vnc-tool $VNC type 'echo typed-$((6*7)) >/dev/ttyS0') || lab_fail "vnc-tool type: $typed"
wait_console 'typed-42' 1 60 ||
	lab_fail "the command typed over VNC did not run (no typed-42 on the serial console)"
DETAIL="$DETAIL; a command typed over VNC (PS/2 keyboard, shift included) ran in the guest"

status=$(vm_poweroff 60)
[ "$status" = 0 ] || lab_fail "exit status $status after 'poweroff -f' (expected 0)"
lab_pass "$DETAIL"
