/* The keys of a PC/AT (MF2, 102/105-key) keyboard: for each Linux input key code (KEY_*), the
 * scan code the keyboard sends in set 2 (what a PS/2 keyboard speaks) and in set 1 (what the
 * i8042 controller turns set 2 into when translation is on, as PCs boot), with the E0 prefix
 * of the extended keys. One table serves the keyboard (key -> set 2) and the controller's
 * translation (set 2 -> set 1), so the two always agree. Pause and Print Screen, whose codes
 * are sequences of their own, are left out. */
#ifndef GUREUM_DEVICES_PS2_SCANCODES_H
#define GUREUM_DEVICES_PS2_SCANCODES_H

#include <stdbool.h>
#include <stdint.h>

struct ps2_scancode {
	uint16_t key; /* KEY_* (linux/input-event-codes.h) */
	uint8_t set1, set2;
	bool extended; /* sent after 0xE0 in both sets */
};

/* The key's codes, or NULL for a key the keyboard does not have. */
const struct ps2_scancode *ps2_scancode_of_key(unsigned key);

/* The set 1 code the controller sends for set 2 code `set2` (< 0x80, or 0x83: F7), as an
 * 8042 translates a keyboard's bytes; other bytes (the keyboard's replies: ACK 0xFA, BAT
 * 0xAA, ID 0xAB...) pass unchanged. */
uint8_t ps2_translate_set2(uint8_t set2);

#endif
