#!/usr/bin/env bash
# A browser as the VM's thin client: the default guest (the Debian cloud kernel) boots on
# gureum's software CPU with `--display vnc=unix:...,websocket=127.0.0.1:0,password=...`, writes
# two lines on its framebuffer console, and Debian's noVNC page in Debian's headless Chromium
# (novnc_capture.mjs, on playwright-core) connects to the websocket= port with the password:
#   1. the canvas noVNC drew is gureum's own screendump (within JPEG's loss);
#   2. tesseract reads the guest's lines off the canvas;
#   3. a command typed on the page (noVNC's key events, the PS/2 keyboard, the shell on tty1)
#      runs in the guest: its output comes out on the serial console.
# Environment (from meson): GUREUM, IMAGE_TOOL, GUEST_IMAGE_DIR. Exit 77 (skipped) without the
# guest image; a missing browser, noVNC or playwright-core is a failure that says what to
# install (scripts/install-deps.sh installs all three). KEEP_WORK=1 keeps the pictures and logs
# in /tmp/gureum-novnc-*; NOVNC_LOGGING=debug prints noVNC's own log.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROMPT='gureum-guest# '
BOOT_SECONDS=${BOOT_SECONDS:-300}

fail() {
	echo "FAIL: $*" >&2
	if [[ -n ${WORK:-} && -f $WORK/console.log ]]; then
		echo "--- the VM's console and log, last lines:" >&2
		tail -n 30 "$WORK/console.log" >&2
	fi
	exit 1
}

: "${GUREUM:?run through meson test}" "${IMAGE_TOOL:?}" "${GUEST_IMAGE_DIR:?}"
if [[ ! -r $GUEST_IMAGE_DIR/vmlinuz || ! -r $GUEST_IMAGE_DIR/initramfs.cpio.gz ]]; then
	echo "SKIP: no guest image in $GUEST_IMAGE_DIR (scripts/guest-image.sh builds it)"
	exit 77
fi
for need in /usr/bin/chromium /usr/share/novnc/vnc.html /usr/bin/tesseract \
	"$HERE/node_modules/playwright-core/package.json"; do
	[[ -e $need ]] || fail "$need is missing: run scripts/install-deps.sh (as root)"
done

WORK=$(mktemp -d /tmp/gureum-novnc-XXXXXX)
VM_PID=
cleanup() {
	[[ -n $VM_PID ]] && kill -9 "$VM_PID" 2>/dev/null
	exec 3>&- 2>/dev/null
	[[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for TEXT SECONDS: until the console log shows TEXT.
wait_for() {
	local limit=$((SECONDS + $2))
	until grep -qF -- "$1" "$WORK/console.log"; do
		((SECONDS < limit)) || return 1
		kill -0 "$VM_PID" 2>/dev/null || fail "gureum ended while waiting for '$1'"
		sleep 0.5
	done
}

mkfifo "$WORK/input"
PASSWORD=novnc42
"$GUREUM" run --accel emu --kernel "$GUEST_IMAGE_DIR/vmlinuz" \
	--initrd "$GUEST_IMAGE_DIR/initramfs.cpio.gz" --memory 512M \
	--cmdline "console=tty0 console=ttyS0 quiet" \
	--display "vnc=unix:$WORK/vnc.sock,websocket=127.0.0.1:0,password=$PASSWORD" \
	--api-socket "$WORK/api.sock" <"$WORK/input" >"$WORK/console.log" 2>&1 &
VM_PID=$!
exec 3>"$WORK/input"
wait_for "$PROMPT" "$BOOT_SECONDS" || fail "no shell prompt within $BOOT_SECONDS s"
port=$(sed -n 's/.*WebSocket (noVNC) on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/console.log")
[[ -n $port ]] || fail "gureum did not log its WebSocket address"

# Two lines on the framebuffer console, the blinking cursor off so the pictures stay still.
echo "echo 0 >/sys/class/graphics/fbcon/cursor_blink; printf '\\033[2J\\033[H' >/dev/tty0;" \
	"echo 'the quick brown fox 4711' >/dev/tty0; echo 'jumps over the lazy dog' >/dev/tty0;" \
	'echo lines-$((20+1))' >&3
wait_for lines-21 60 || fail "the guest did not write to /dev/tty0"

timeout 120 node "$HERE/novnc_capture.mjs" "$port" "$PASSWORD" "$WORK/canvas.png" \
	>"$WORK/browser.log" 2>&1 || fail "the browser: $(tail -n 3 "$WORK/browser.log")"
"$GUREUM" ctl "$WORK/api.sock" screendump "$WORK/screen.png" >/dev/null ||
	fail "ctl screendump failed"

# 1. The same picture (noVNC asks for tight encoding with JPEG quality 6, so areas libvncserver
# finds photo-like may come lossy: image-tool allows JPEG's loss around glyph edges).
same=$("$IMAGE_TOOL" compare "$WORK/screen.png" "$WORK/canvas.png") ||
	fail "noVNC's canvas differs from the screendump: $same"

# 2. The text.
"$IMAGE_TOOL" ocr-prep "$WORK/canvas.png" "$WORK/ocr.png" 512 48 || fail "cannot prepare OCR"
timeout 300 tesseract "$WORK/ocr.png" "$WORK/ocr" >/dev/null 2>&1 || fail "tesseract failed"
text=$(tr '\n' ' ' <"$WORK/ocr.txt")
case "$text" in
*"quick brown fox 4711"*"lazy dog"*) ;;
*) fail "tesseract read '$text' off noVNC's canvas, not the guest's two lines" ;;
esac

# 3. Typed in the browser (a second visit: the typed line changes the screen), run by the
# shell on tty1.
timeout 120 node "$HERE/novnc_capture.mjs" "$port" "$PASSWORD" "$WORK/canvas2.png" \
	'echo chromium-$((6*7)) >/dev/ttyS0' >"$WORK/browser2.log" 2>&1 ||
	fail "the browser, typing: $(tail -n 3 "$WORK/browser2.log")"
wait_for chromium-42 30 || fail "the command typed in noVNC did not run in the guest"

echo poweroff -f >&3
wait "$VM_PID"
status=$?
VM_PID=
[[ $status -eq 0 ]] || fail "gureum ended with status $status after poweroff -f"
echo "PASS: noVNC in Chromium ($(head -n 1 "$WORK/browser.log")): canvas = screendump" \
	"($same); OCR '$text'; typed command ran"
