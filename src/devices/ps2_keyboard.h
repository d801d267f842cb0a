/* The PS/2 keyboard behind the i8042 (an MF2 keyboard speaking scan code set 2): the commands
 * the host sends it and its answers, and key presses and releases as scan codes. The
 * controller (i8042.c) carries the bytes both ways and translates the keyboard's output to
 * set 1 when its configuration says so. */
#ifndef GUREUM_DEVICES_PS2_KEYBOARD_H
#define GUREUM_DEVICES_PS2_KEYBOARD_H

#include <stdbool.h>
#include <stdint.h>

#define PS2_KEYBOARD_MAX_REPLY 3 /* ACK, then the two ID bytes */
#define PS2_KEYBOARD_MAX_KEY   3 /* E0 F0 code: an extended key's release */

struct ps2_keyboard {
	uint8_t pending_command; /* a command waiting for its parameter byte, or 0 */
	bool scanning_off;	 /* F5 (disable): keys are not reported until F4 or a reset */
};

/* Power-on: scanning, no command pending. */
void ps2_keyboard_reset(struct ps2_keyboard *kbd);
/* The host sent `byte`; the keyboard's answer (set 2: the controller translates) goes to
 * `reply`. Returns how many bytes. */
unsigned ps2_keyboard_write(struct ps2_keyboard *kbd, uint8_t byte,
			    uint8_t reply[PS2_KEYBOARD_MAX_REPLY]);
/* Key `key` (KEY_*) pressed (`down`) or released: its set 2 scan code in `out`. Returns how
 * many bytes; 0 for a key this keyboard does not have, or while scanning is off. A key held
 * down is pressed again (down again without up), as typematic repeat sends it. */
unsigned ps2_keyboard_key(const struct ps2_keyboard *kbd, unsigned key, bool down,
			  uint8_t out[PS2_KEYBOARD_MAX_KEY]);

#endif
