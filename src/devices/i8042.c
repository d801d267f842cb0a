#include "devices/i8042.h"

#include "devices/ps2_scancodes.h"
#include "lib/state_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Controller commands (port 0x64). */
#define CMD_READ_RAM_FIRST   0x20
#define CMD_READ_RAM_LAST    0x3f
#define CMD_WRITE_RAM_FIRST  0x60
#define CMD_WRITE_RAM_LAST   0x7f
#define CMD_AUX_DISABLE	     0xa7
#define CMD_AUX_ENABLE	     0xa8
#define CMD_AUX_TEST	     0xa9
#define CMD_SELF_TEST	     0xaa
#define CMD_KBD_TEST	     0xab
#define CMD_KBD_DISABLE	     0xad
#define CMD_KBD_ENABLE	     0xae
#define CMD_READ_INPUT_PORT  0xc0
#define CMD_READ_OUTPUT_PORT 0xd0
#define CMD_WRITE_OUTPUT     0xd1
#define CMD_WRITE_KBD_OUTBUF 0xd2
#define CMD_WRITE_AUX_OUTBUF 0xd3
#define CMD_WRITE_AUX	     0xd4
#define CMD_READ_TEST_INPUTS 0xe0
#define CMD_PULSE_FIRST	     0xf0

#define SELF_TEST_PASSED    0x55
#define INTERFACE_TEST_OK   0x00
#define AUX_CLOCK_STUCK_LOW 0x02
#define OUTPUT_PORT_RESET   0x01 /* active low: clearing it resets the CPU */
#define OUTPUT_PORT_A20	    0x02

/* The keyboard's break prefix in set 2; with translation it becomes bit 7 of the next code. */
#define KBD_BREAK_PREFIX 0xf0
#define KBD_BREAK_BIT	 0x80

int i8042_init(struct i8042 *dev, const struct irq_router *irq, uint32_t gsi,
	       struct power_callbacks power)
{
	*dev = (struct i8042){.irq = irq, .gsi = gsi, .power = power};
	ps2_keyboard_reset(&dev->kbd);
	if (pthread_mutex_init(&dev->lock, NULL))
		return -1;
	/* The state a PC BIOS leaves: keyboard interrupt on, translation on, self-test passed. */
	dev->ram[0] = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE;
	dev->status = I8042_STR_SYSFLAG;
	dev->output_port = OUTPUT_PORT_RESET | OUTPUT_PORT_A20;
	return 0;
}

/* The keyboard interrupt follows "a byte is waiting and the guest enabled the keyboard
 * interrupt", like QEMU's pckbd. The line is only touched when that changes. */
static void update_irq(struct i8042 *dev)
{
	bool level = dev->queue_count > 0 && (dev->ram[0] & I8042_CTR_KBDINT);
	if (level != dev->irq_level) {
		dev->irq_level = level;
		irq_set_level(dev->irq, dev->gsi, level);
	}
}

static void queue_byte(struct i8042 *dev, uint8_t byte)
{
	if (dev->queue_count == I8042_QUEUE_SIZE)
		return;
	dev->queue[(dev->queue_head + dev->queue_count) % I8042_QUEUE_SIZE] = byte;
	dev->queue_count++;
	update_irq(dev);
}

/* A real 8042 has a one-byte output buffer: once the guest reads it, OBF (and the interrupt)
 * drops before the next byte is loaded. We keep that falling edge between queued bytes, since
 * IRQ 1 is edge-triggered on a PC and a line that simply stayed high would deliver only the
 * first byte of a multi-byte reply (ACK, then the keyboard ID). */
static uint8_t read_data(struct i8042 *dev)
{
	if (dev->queue_count > 0) {
		dev->last_read = dev->queue[dev->queue_head];
		dev->queue_head = (dev->queue_head + 1) % I8042_QUEUE_SIZE;
		dev->queue_count--;
		if (dev->irq_level) {
			dev->irq_level = false;
			irq_set_level(dev->irq, dev->gsi, false);
		}
		update_irq(dev);
	}
	return dev->last_read;
}

static uint8_t read_status(const struct i8042 *dev)
{
	uint8_t status = dev->status | I8042_STR_KEYLOCK;
	if (dev->queue_count > 0)
		status |= I8042_STR_OBF;
	return status;
}

static void reset_cpu(struct i8042 *dev)
{
	power_request_reset(&dev->power);
}

/* Bytes from the keyboard, as the controller passes them on: with XLATE, in set 1 (a set 2
 * break prefix folded into the next code's bit 7). */
static unsigned translate(const struct i8042 *dev, const uint8_t *in, unsigned n, uint8_t *out)
{
	if (!(dev->ram[0] & I8042_CTR_XLATE)) {
		memcpy(out, in, n);
		return n;
	}
	unsigned m = 0;
	uint8_t bit = 0;
	for (unsigned i = 0; i < n; i++) {
		if (in[i] == KBD_BREAK_PREFIX) {
			bit = KBD_BREAK_BIT;
			continue;
		}
		out[m++] = ps2_translate_set2(in[i]) | bit;
		bit = 0;
	}
	return m;
}

static void keyboard_output(struct i8042 *dev, const uint8_t *bytes, unsigned n)
{
	uint8_t out[PS2_KEYBOARD_MAX_REPLY];
	unsigned m = translate(dev, bytes, n, out);
	for (unsigned i = 0; i < m; i++)
		queue_byte(dev, out[i]);
}

/* A byte the guest sends to the keyboard: answered at once, so that no command times out. */
static void keyboard_write(struct i8042 *dev, uint8_t byte)
{
	uint8_t reply[PS2_KEYBOARD_MAX_REPLY];
	keyboard_output(dev, reply, ps2_keyboard_write(&dev->kbd, byte, reply));
}

static void write_output_port(struct i8042 *dev, uint8_t value)
{
	dev->output_port = value;
	if (!(value & OUTPUT_PORT_RESET))
		reset_cpu(dev);
}

/* The data byte that completes a two-byte controller command. */
static void complete_command(struct i8042 *dev, uint8_t cmd, uint8_t data)
{
	if (cmd >= CMD_WRITE_RAM_FIRST && cmd <= CMD_WRITE_RAM_LAST) {
		dev->ram[cmd - CMD_WRITE_RAM_FIRST] = data;
		if (cmd == CMD_WRITE_RAM_FIRST)
			dev->status = (dev->status & ~I8042_STR_SYSFLAG) |
				      (data & I8042_CTR_SYSFLAG ? I8042_STR_SYSFLAG : 0);
		update_irq(dev);
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPUT:
		write_output_port(dev, data);
		break;
	case CMD_WRITE_KBD_OUTBUF:
		queue_byte(dev, data);
		break;
	case CMD_WRITE_AUX_OUTBUF:
		/* There is no aux port. Linux's loop test (0xd3) checks that the byte comes back
		 * marked AUXDATA; returning it unmarked fails the test at once, instead of after
		 * the 500 ms timeout that silence would cost. */
		queue_byte(dev, data);
		break;
	case CMD_WRITE_AUX:
		break; /* no mouse to receive it */
	}
}

static bool command_takes_data(uint8_t cmd)
{
	return (cmd >= CMD_WRITE_RAM_FIRST && cmd <= CMD_WRITE_RAM_LAST) ||
	       cmd == CMD_WRITE_OUTPUT || cmd == CMD_WRITE_KBD_OUTBUF ||
	       cmd == CMD_WRITE_AUX_OUTBUF || cmd == CMD_WRITE_AUX;
}

static void set_config_bits(struct i8042 *dev, uint8_t set, uint8_t clear)
{
	dev->ram[0] = (dev->ram[0] & ~clear) | set;
	update_irq(dev);
}

static void controller_command(struct i8042 *dev, uint8_t cmd)
{
	dev->pending_command = 0;
	if (command_takes_data(cmd)) {
		dev->pending_command = cmd;
		return;
	}
	if (cmd >= CMD_READ_RAM_FIRST && cmd <= CMD_READ_RAM_LAST) {
		queue_byte(dev, dev->ram[cmd - CMD_READ_RAM_FIRST]);
		return;
	}
	/* 0xf0..0xff pulse the output lines whose bits are 0 in the low nibble; line 0 is the
	 * CPU reset, so 0xfe (and any even one) resets. */
	if (cmd >= CMD_PULSE_FIRST) {
		if (!(cmd & OUTPUT_PORT_RESET))
			reset_cpu(dev);
		return;
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		set_config_bits(dev, I8042_CTR_AUXDIS, 0);
		break;
	case CMD_AUX_ENABLE:
		set_config_bits(dev, 0, I8042_CTR_AUXDIS);
		break;
	case CMD_AUX_TEST:
		/* Tells Linux at once that there is no usable aux port. */
		queue_byte(dev, AUX_CLOCK_STUCK_LOW);
		break;
	case CMD_SELF_TEST:
		dev->status |= I8042_STR_SYSFLAG;
		queue_byte(dev, SELF_TEST_PASSED);
		break;
	case CMD_KBD_TEST:
		queue_byte(dev, INTERFACE_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		set_config_bits(dev, I8042_CTR_KBDDIS, 0);
		break;
	case CMD_KBD_ENABLE:
		set_config_bits(dev, 0, I8042_CTR_KBDDIS);
		break;
	case CMD_READ_INPUT_PORT:
	case CMD_READ_TEST_INPUTS:
		queue_byte(dev, 0);
		break;
	case CMD_READ_OUTPUT_PORT:
		queue_byte(dev, dev->output_port);
		break;
	default:
		break; /* unknown commands are ignored, as by real controllers */
	}
}

static void write_data(struct i8042 *dev, uint8_t byte)
{
	dev->status &= ~I8042_STR_CMDDAT;
	if (dev->pending_command) {
		uint8_t cmd = dev->pending_command;
		dev->pending_command = 0;
		complete_command(dev, cmd, byte);
		return;
	}
	keyboard_write(dev, byte);
}

static void write_command(struct i8042 *dev, uint8_t cmd)
{
	dev->status |= I8042_STR_CMDDAT;
	controller_command(dev, cmd);
}

/* Both ports are one byte wide and registered as such, so the bus only sends 1-byte accesses. */
static void data_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *dev = opaque;
	(void)offset;
	memset(data, 0xff, size);
	pthread_mutex_lock(&dev->lock);
	*(uint8_t *)data = read_data(dev);
	pthread_mutex_unlock(&dev->lock);
}

static void data_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct i8042 *dev = opaque;
	(void)offset;
	(void)size;
	pthread_mutex_lock(&dev->lock);
	write_data(dev, *(const uint8_t *)data);
	pthread_mutex_unlock(&dev->lock);
}

static void command_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *dev = opaque;
	(void)offset;
	memset(data, 0xff, size);
	pthread_mutex_lock(&dev->lock);
	*(uint8_t *)data = read_status(dev);
	pthread_mutex_unlock(&dev->lock);
}

static void command_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct i8042 *dev = opaque;
	(void)offset;
	(void)size;
	pthread_mutex_lock(&dev->lock);
	write_command(dev, *(const uint8_t *)data);
	pthread_mutex_unlock(&dev->lock);
}

int i8042_attach(struct i8042 *dev, struct io_bus *pio)
{
	if (io_bus_register(pio, I8042_DATA_PORT, 1, data_io_read, data_io_write, dev,
			    "i8042-data"))
		return -1;
	return io_bus_register(pio, I8042_COMMAND_PORT, 1, command_io_read, command_io_write, dev,
			       "i8042-command");
}

void i8042_destroy(struct i8042 *dev)
{
	pthread_mutex_destroy(&dev->lock);
}

int i8042_key(struct i8042 *dev, unsigned key, bool down)
{
	uint8_t code[PS2_KEYBOARD_MAX_KEY], out[PS2_KEYBOARD_MAX_KEY];
	pthread_mutex_lock(&dev->lock);
	int rc = 0;
	unsigned n =
	    dev->ram[0] & I8042_CTR_KBDDIS ? 0 : ps2_keyboard_key(&dev->kbd, key, down, code);
	unsigned m = translate(dev, code, n, out);
	if (m > I8042_QUEUE_SIZE - dev->queue_count)
		rc = -EAGAIN;
	for (unsigned i = 0; rc == 0 && i < m; i++)
		queue_byte(dev, out[i]);
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

/* ---- saved state ---- */

#define KBC_STATE_NAME	  "i8042"
#define KBC_STATE_VERSION 1

/* The one-byte fields of the record. */
#define KBC_STATE_BYTES(X) X(status) X(output_port) X(pending_command) X(last_read)

static const char *const kbc_state_keys[] = {"ram",
					     "status",
					     "output_port",
					     "pending_command",
					     "pending_kbd_command",
					     "last_read",
					     "queue",
					     "kbd_scanning_off",
					     NULL};

void i8042_save(const struct i8042 *dev, struct state_writer *w)
{
	/* The lock is not part of the state; taking it does not change the controller. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&dev->lock;
	pthread_mutex_lock(lock);
	state_record_begin(w, KBC_STATE_NAME, KBC_STATE_VERSION, KBC_STATE_VERSION);
	state_put_bytes(w, "ram", dev->ram, sizeof(dev->ram), STATE_ESSENTIAL);
#define PUT(f) state_put_u64(w, #f, dev->f, STATE_ESSENTIAL);
	KBC_STATE_BYTES(PUT)
#undef PUT
	state_put_u64(w, "pending_kbd_command", dev->kbd.pending_command, STATE_ESSENTIAL);
	/* Not essential: a reader that predates it keeps its keyboard scanning. */
	state_put_u64(w, "kbd_scanning_off", dev->kbd.scanning_off, 0);
	uint8_t queue[I8042_QUEUE_SIZE];
	for (unsigned i = 0; i < dev->queue_count; i++)
		queue[i] = dev->queue[(dev->queue_head + i) % I8042_QUEUE_SIZE];
	state_put_bytes(w, "queue", queue, dev->queue_count, STATE_ESSENTIAL);
	state_record_end(w);
	pthread_mutex_unlock(lock);
}

int i8042_load(struct i8042 *dev, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {KBC_STATE_NAME, KBC_STATE_VERSION, 1, kbc_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	struct i8042 next = {0};
	const void *ram, *queue;
	uint32_t ram_len, queue_len;
	uint64_t v = 0;
	bool ok = state_get_bytes(rec, "ram", &ram, &ram_len) == 0 && ram_len == sizeof(next.ram) &&
		  state_get_bytes(rec, "queue", &queue, &queue_len) == 0 &&
		  queue_len <= I8042_QUEUE_SIZE;
#define GET(f)                                                                                     \
	ok = ok && state_get_u64(rec, #f, &v) == 0 && v <= 0xff;                                   \
	next.f = (uint8_t)v;
	KBC_STATE_BYTES(GET)
#undef GET
	ok = ok && state_get_u64(rec, "pending_kbd_command", &v) == 0 && v <= 0xff;
	uint8_t kbd_command = (uint8_t)v;
	uint64_t scanning_off = 0; /* absent in older records */
	if (state_get_u64(rec, "kbd_scanning_off", &v) == 0)
		scanning_off = v;
	ok = ok && scanning_off <= 1;
	if (!ok) {
		snprintf(err, err_len, "i8042 state: a field is missing or out of range");
		return -1;
	}
	pthread_mutex_lock(&dev->lock);
	memcpy(dev->ram, ram, sizeof(dev->ram));
#define SET(f) dev->f = next.f;
	KBC_STATE_BYTES(SET)
#undef SET
	dev->kbd.pending_command = kbd_command;
	dev->kbd.scanning_off = scanning_off;
	memcpy(dev->queue, queue, queue_len);
	dev->queue_head = 0;
	dev->queue_count = queue_len;
	update_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}
