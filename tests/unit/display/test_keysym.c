/* Keysyms to keys on a US keyboard (keysym.c): both cases of a letter and both symbols of a
 * digit or punctuation key map to that key; editing, cursor, keypad, function keys and
 * modifiers to theirs; symbols no key types to 0. */
#include "display/keysym.h"

#include <criterion/criterion.h>
#include <linux/input-event-codes.h>

Test(keysym, letters_digits_and_their_shifted_symbols)
{
	cr_assert_eq(keysym_to_key('a'), KEY_A);
	cr_assert_eq(keysym_to_key('A'), KEY_A);
	cr_assert_eq(keysym_to_key('q'), KEY_Q);
	cr_assert_eq(keysym_to_key('Z'), KEY_Z);
	cr_assert_eq(keysym_to_key('1'), KEY_1);
	cr_assert_eq(keysym_to_key('!'), KEY_1);
	cr_assert_eq(keysym_to_key('0'), KEY_0);
	cr_assert_eq(keysym_to_key(')'), KEY_0);
	cr_assert_eq(keysym_to_key('('), KEY_9);
	cr_assert_eq(keysym_to_key('$'), KEY_4);
	cr_assert_eq(keysym_to_key(' '), KEY_SPACE);
	cr_assert_eq(keysym_to_key('>'), KEY_DOT);
	cr_assert_eq(keysym_to_key('/'), KEY_SLASH);
	cr_assert_eq(keysym_to_key('|'), KEY_BACKSLASH);
	cr_assert_eq(keysym_to_key('"'), KEY_APOSTROPHE);
	cr_assert_eq(keysym_to_key('~'), KEY_GRAVE);
	cr_assert_eq(keysym_to_key('_'), KEY_MINUS);
	for (unsigned c = 0x20; c < 0x7f; c++)
		cr_assert_neq(keysym_to_key(c), 0, "printable ASCII '%c' has no key", c);
}

Test(keysym, function_keys_and_modifiers)
{
	cr_assert_eq(keysym_to_key(0xff0d), KEY_ENTER);
	cr_assert_eq(keysym_to_key(0xff08), KEY_BACKSPACE);
	cr_assert_eq(keysym_to_key(0xff52), KEY_UP);
	cr_assert_eq(keysym_to_key(0xffbe), KEY_F1);
	cr_assert_eq(keysym_to_key(0xffc7), KEY_F10);
	cr_assert_eq(keysym_to_key(0xffc8), KEY_F11);
	cr_assert_eq(keysym_to_key(0xffc9), KEY_F12);
	cr_assert_eq(keysym_to_key(0xffe1), KEY_LEFTSHIFT);
	cr_assert_eq(keysym_to_key(0xffe4), KEY_RIGHTCTRL);
	cr_assert_eq(keysym_to_key(0xffe9), KEY_LEFTALT);
	cr_assert_eq(keysym_to_key(0xfe03), KEY_RIGHTALT, "AltGr");
	cr_assert_eq(keysym_to_key(0xffb7), KEY_KP7);
	cr_assert_eq(keysym_to_key(0xff95), KEY_KP7, "KP_Home: the same key, NumLock off");
	cr_assert_eq(keysym_to_key(0xff8d), KEY_KPENTER);
}

Test(keysym, symbols_without_a_key)
{
	cr_assert_eq(keysym_to_key(0x20ac), 0, "EuroSign");
	cr_assert_eq(keysym_to_key(0xe9), 0, "eacute");
	cr_assert_eq(keysym_to_key(0x7f), 0);
	cr_assert_eq(keysym_to_key(0x1f), 0);
	cr_assert_eq(keysym_to_key(0xffffffff), 0);
}

Test(keysym, which_symbols_need_shift)
{
	const char *shifted = "ABCXYZ!@#$%^&*()_+{}|:\"~<>?";
	const char *plain = "abcxyz1234567890-=[]\\;',./` ";
	for (const char *c = shifted; *c; c++)
		cr_assert(keysym_needs_shift((uint32_t)*c), "'%c' is typed with Shift", *c);
	for (const char *c = plain; *c; c++)
		cr_assert_not(keysym_needs_shift((uint32_t)*c), "'%c' is typed without Shift", *c);
	cr_assert_not(keysym_needs_shift(0xff0d), "Return");
	cr_assert_not(keysym_needs_shift(0xffe1), "Shift itself");
	cr_assert_not(keysym_needs_shift(0x20ac), "EuroSign, no key at all");
}
