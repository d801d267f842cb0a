/* The PS/2 keyboard (ps2_keyboard.h): the command set of an IBM MF2 keyboard as Linux's atkbd
 * and firmware use it, answered at once; scan code set 2 only (a request for another set is
 * acknowledged and ignored, as many real keyboards do with set 3). */
#include "devices/ps2_keyboard.h"

#include "devices/ps2_scancodes.h"

#define CMD_SET_LEDS  0xed
#define CMD_ECHO      0xee
#define CMD_SCANSET   0xf0
#define CMD_GET_ID    0xf2
#define CMD_SET_REP   0xf3
#define CMD_ENABLE    0xf4
#define CMD_RESET_DIS 0xf5
#define CMD_RESET_ENA 0xf6
#define CMD_SET_TYPE  0xfb
#define CMD_SET_MAKE  0xfc
#define CMD_SET_BREAK 0xfd
#define CMD_RESEND    0xfe
#define CMD_RESET     0xff
#define REPLY_ACK     0xfa
#define REPLY_POR     0xaa /* power-on reset passed */
#define REPLY_RESEND  0xfe
#define ID_FIRST      0xab
#define ID_MF2	      0x83 /* the controller's translation makes it 0x41 */
#define SCANCODE_SET  2
#define PREFIX_EXT    0xe0
#define PREFIX_BREAK  0xf0

void ps2_keyboard_reset(struct ps2_keyboard *kbd)
{
	*kbd = (struct ps2_keyboard){0};
}

static bool takes_parameter(uint8_t cmd)
{
	return cmd == CMD_SET_LEDS || cmd == CMD_SET_REP || cmd == CMD_SCANSET ||
	       cmd == CMD_SET_TYPE || cmd == CMD_SET_MAKE || cmd == CMD_SET_BREAK;
}

static unsigned parameter(uint8_t cmd, uint8_t param, uint8_t reply[PS2_KEYBOARD_MAX_REPLY])
{
	reply[0] = REPLY_ACK;
	/* "Scan code set 0" means "which set are you using?". */
	if (cmd == CMD_SCANSET && param == 0) {
		reply[1] = SCANCODE_SET;
		return 2;
	}
	return 1;
}

static unsigned command(struct ps2_keyboard *kbd, uint8_t cmd,
			uint8_t reply[PS2_KEYBOARD_MAX_REPLY])
{
	reply[0] = REPLY_ACK;
	switch (cmd) {
	case CMD_RESET:
		ps2_keyboard_reset(kbd);
		reply[1] = REPLY_POR;
		return 2;
	case CMD_GET_ID:
		reply[1] = ID_FIRST;
		reply[2] = ID_MF2;
		return 3;
	case CMD_ECHO:
		reply[0] = CMD_ECHO;
		return 1;
	case CMD_ENABLE:
	case CMD_RESET_ENA: /* defaults, scanning on */
		kbd->scanning_off = false;
		return 1;
	case CMD_RESET_DIS: /* defaults, scanning off */
		kbd->scanning_off = true;
		return 1;
	case CMD_RESEND:
	case 0xf7: /* set all keys typematic / make-break / make / typematic-make-break */
	case 0xf8:
	case 0xf9:
	case 0xfa:
		return 1;
	default:
		reply[0] = REPLY_RESEND;
		return 1;
	}
}

unsigned ps2_keyboard_write(struct ps2_keyboard *kbd, uint8_t byte,
			    uint8_t reply[PS2_KEYBOARD_MAX_REPLY])
{
	if (kbd->pending_command) {
		uint8_t cmd = kbd->pending_command;
		kbd->pending_command = 0;
		return parameter(cmd, byte, reply);
	}
	if (takes_parameter(byte)) {
		kbd->pending_command = byte;
		reply[0] = REPLY_ACK;
		return 1;
	}
	return command(kbd, byte, reply);
}

unsigned ps2_keyboard_key(const struct ps2_keyboard *kbd, unsigned key, bool down,
			  uint8_t out[PS2_KEYBOARD_MAX_KEY])
{
	const struct ps2_scancode *code = ps2_scancode_of_key(key);
	if (!code || kbd->scanning_off)
		return 0;
	unsigned n = 0;
	if (code->extended)
		out[n++] = PREFIX_EXT;
	if (!down)
		out[n++] = PREFIX_BREAK;
	out[n++] = code->set2;
	return n;
}
