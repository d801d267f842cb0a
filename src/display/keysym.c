/* X11 keysyms to keys on a US layout (keysym.h). Keysym values from the X Window System
 * Protocol's appendix A (Latin-1 keysyms equal their characters; function keys 0xff00..). */
#include "display/keysym.h"

#include <linux/input-event-codes.h>
#include <stddef.h>

static const unsigned letter_keys[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z};

/* Printable ASCII that is neither a letter nor a digit: each key's two symbols. */
static const struct {
	char plain, shifted;
	unsigned key;
} symbol_keys[] = {
    {' ', ' ', KEY_SPACE},     {'-', '_', KEY_MINUS},	    {'=', '+', KEY_EQUAL},
    {'[', '{', KEY_LEFTBRACE}, {']', '}', KEY_RIGHTBRACE},  {'\\', '|', KEY_BACKSLASH},
    {';', ':', KEY_SEMICOLON}, {'\'', '"', KEY_APOSTROPHE}, {'`', '~', KEY_GRAVE},
    {',', '<', KEY_COMMA},     {'.', '>', KEY_DOT},	    {'/', '?', KEY_SLASH},
};

/* The digits' shifted symbols, '0' first. */
static const char shifted_digits[] = ")!@#$%^&*(";

/* Keysyms 0xfe00..0xffff: editing, cursor, keypad, function keys and modifiers. */
static const struct {
	uint16_t keysym;
	unsigned key;
} function_keys[] = {
    {0xff08, KEY_BACKSPACE}, {0xff09, KEY_TAB},	       {0xfe20, KEY_TAB}, /* ISO_Left_Tab */
    {0xff0d, KEY_ENTER},     {0xff1b, KEY_ESC},	       {0xffff, KEY_DELETE},
    {0xff50, KEY_HOME},	     {0xff51, KEY_LEFT},       {0xff52, KEY_UP},
    {0xff53, KEY_RIGHT},     {0xff54, KEY_DOWN},       {0xff55, KEY_PAGEUP},
    {0xff56, KEY_PAGEDOWN},  {0xff57, KEY_END},	       {0xff63, KEY_INSERT},
    {0xff67, KEY_COMPOSE},   {0xff14, KEY_SCROLLLOCK}, {0xff7f, KEY_NUMLOCK},
    {0xff8d, KEY_KPENTER},   {0xffaa, KEY_KPASTERISK}, {0xffab, KEY_KPPLUS},
    {0xffad, KEY_KPMINUS},   {0xffae, KEY_KPDOT},      {0xffaf, KEY_KPSLASH},
    {0xffb0, KEY_KP0},	     {0xffb1, KEY_KP1},	       {0xffb2, KEY_KP2},
    {0xffb3, KEY_KP3},	     {0xffb4, KEY_KP4},	       {0xffb5, KEY_KP5},
    {0xffb6, KEY_KP6},	     {0xffb7, KEY_KP7},	       {0xffb8, KEY_KP8},
    {0xffb9, KEY_KP9},	     {0xff95, KEY_KP7},	       {0xff96, KEY_KP4}, /* keypad, NumLock off */
    {0xff97, KEY_KP8},	     {0xff98, KEY_KP6},	       {0xff99, KEY_KP2},
    {0xff9a, KEY_KP9},	     {0xff9b, KEY_KP3},	       {0xff9c, KEY_KP1},
    {0xff9d, KEY_KP5},	     {0xff9e, KEY_KP0},	       {0xff9f, KEY_KPDOT},
    {0xffe1, KEY_LEFTSHIFT}, {0xffe2, KEY_RIGHTSHIFT}, {0xffe3, KEY_LEFTCTRL},
    {0xffe4, KEY_RIGHTCTRL}, {0xffe5, KEY_CAPSLOCK},   {0xffe7, KEY_LEFTMETA},
    {0xffe8, KEY_RIGHTMETA}, {0xffe9, KEY_LEFTALT},    {0xffea, KEY_RIGHTALT},
    {0xffeb, KEY_LEFTMETA},  {0xffec, KEY_RIGHTMETA},  {0xfe03, KEY_RIGHTALT}, /* AltGr */
};

static unsigned printable_key(uint32_t c)
{
	if (c >= 'a' && c <= 'z')
		return letter_keys[c - 'a'];
	if (c >= 'A' && c <= 'Z')
		return letter_keys[c - 'A'];
	if (c >= '1' && c <= '9')
		return KEY_1 + (c - '1');
	if (c == '0')
		return KEY_0;
	for (unsigned d = 0; d < 10; d++)
		if (shifted_digits[d] == (char)c)
			return d == 0 ? KEY_0 : KEY_1 + (d - 1);
	for (size_t i = 0; i < sizeof(symbol_keys) / sizeof(symbol_keys[0]); i++)
		if (symbol_keys[i].plain == (char)c || symbol_keys[i].shifted == (char)c)
			return symbol_keys[i].key;
	return 0;
}

unsigned keysym_to_key(uint32_t keysym)
{
	if (keysym >= 0x20 && keysym < 0x7f)
		return printable_key(keysym);
	if (keysym >= 0xffbe && keysym <= 0xffc9) /* F1..F12 */
		return keysym <= 0xffc7 ? KEY_F1 + (keysym - 0xffbe) : KEY_F11 + (keysym - 0xffc8);
	for (size_t i = 0; i < sizeof(function_keys) / sizeof(function_keys[0]); i++)
		if (function_keys[i].keysym == keysym)
			return function_keys[i].key;
	return 0;
}

bool keysym_needs_shift(uint32_t keysym)
{
	if (keysym >= 'A' && keysym <= 'Z')
		return true;
	if (keysym < 0x21 || keysym >= 0x7f)
		return false;
	for (unsigned d = 0; d < 10; d++)
		if (shifted_digits[d] == (char)keysym)
			return true;
	for (size_t i = 0; i < sizeof(symbol_keys) / sizeof(symbol_keys[0]); i++)
		if (symbol_keys[i].shifted == (char)keysym)
			return true;
	return false;
}
