/* What a VNC client's key events mean: RFB sends X11 keysyms (the symbol a key typed, RFB
 * 7.5.4), the guest's keyboard needs keys. */
#ifndef GUREUM_DISPLAY_KEYSYM_H
#define GUREUM_DISPLAY_KEYSYM_H

#include <stdbool.h>
#include <stdint.h>

/* The key (KEY_*, linux/input-event-codes.h) that types `keysym` on a US keyboard, or 0 for
 * none. A shifted symbol maps to the key it is on ('A' and 'a' to KEY_A, '!' to KEY_1): the
 * client sends Shift's own events around it, as the user pressed it. */
unsigned keysym_to_key(uint32_t keysym);

/* Whether a US keyboard types `keysym` with Shift held ('A', '$', '>'; not 'a', '4', ' '). */
bool keysym_needs_shift(uint32_t keysym);

#endif
