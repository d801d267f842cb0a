/* The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command), with a PS/2
 * keyboard behind it (ps2_keyboard.h: scan code set 2, translated to set 1 when the
 * configuration byte's XLATE bit says so, as PCs boot) and no aux (mouse) port. Linux's i8042
 * and atkbd drivers probe it quickly and without errors; its CPU reset line (command 0xFE)
 * reboots many kernels and boot loaders; keys come from the display (i8042_key). */
#ifndef GUREUM_DEVICES_I8042_H
#define GUREUM_DEVICES_I8042_H

#include "accel/irq.h"
#include "devices/io_bus.h"
#include "devices/power.h"
#include "devices/ps2_keyboard.h"
#include "machine/layout.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* The ISA interrupt line of the keyboard. layout.h has no GSI for it, so the machine passes
 * this one to i8042_init(). */
#define I8042_KBD_GSI 1

#define I8042_DATA_PORT	   LAYOUT_PORT_I8042
#define I8042_COMMAND_PORT (LAYOUT_PORT_I8042 + 4)

/* Status register bits. */
#define I8042_STR_OBF	  0x01 /* output buffer full: a byte waits at port 0x60 */
#define I8042_STR_IBF	  0x02 /* input buffer full: never, we consume writes at once */
#define I8042_STR_SYSFLAG 0x04
#define I8042_STR_CMDDAT  0x08 /* last write went to the command port */
#define I8042_STR_KEYLOCK 0x10 /* 1 = keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20

/* Controller configuration byte ("command byte", internal RAM byte 0) bits. */
#define I8042_CTR_KBDINT  0x01
#define I8042_CTR_AUXINT  0x02
#define I8042_CTR_SYSFLAG 0x04
#define I8042_CTR_KBDDIS  0x10
#define I8042_CTR_AUXDIS  0x20
#define I8042_CTR_XLATE	  0x40

/* Bytes waiting for the guest: command replies and keys. Keys that find no room are refused
 * (i8042_key: try again once the guest read some), never cut in half. */
#define I8042_QUEUE_SIZE 64

struct i8042 {
	const struct irq_router *irq;
	uint32_t gsi;
	struct power_callbacks power;
	uint8_t ram[32]; /* internal RAM; ram[0] is the configuration byte */
	uint8_t status;	 /* only SYSFLAG and CMDDAT are stored; OBF is derived from the queue */
	uint8_t output_port;
	uint8_t pending_command; /* controller command waiting for its data byte, or 0 */
	struct ps2_keyboard kbd;
	uint8_t last_read; /* what port 0x60 returns once the queue is empty */
	/* Bytes for the guest to read at port 0x60, oldest first; overflowing bytes are dropped. */
	uint8_t queue[I8042_QUEUE_SIZE];
	unsigned queue_head, queue_count;
	bool irq_level;
	/* The guest's port accesses (vCPU threads) and keys (the display's threads). Not part
	 * of the state. */
	pthread_mutex_t lock;
};

/* `irq` may be NULL (no interrupts); gsi is normally I8042_KBD_GSI. */
int i8042_init(struct i8042 *dev, const struct irq_router *irq, uint32_t gsi,
	       struct power_callbacks power);
/* Registers ports 0x60 and 0x64, one byte each. Returns 0, or -1 if taken. */
int i8042_attach(struct i8042 *dev, struct io_bus *pio);
void i8042_destroy(struct i8042 *dev);
/* Key `key` (KEY_*, linux/input-event-codes.h) pressed or released on the keyboard, from any
 * thread: its scan code is queued for the guest (translated to set 1 with XLATE), with an
 * interrupt. 0 (also when the guest disabled the keyboard, or it has no such key: dropped, as
 * by a real one), or -EAGAIN when the queue has no room for the whole code now. */
int i8042_key(struct i8042 *dev, unsigned key, bool down);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "i8042" (lib/state_record.h): internal RAM,
 * status, output port, commands waiting for their data, whether the keyboard scans, and the
 * bytes queued for the guest.
 * Call while the VM is paused. */
void i8042_save(const struct i8042 *dev, struct state_writer *w);
/* Returns 0 (the interrupt line set to match), or -1 with one sentence in err and the
 * controller unchanged. */
int i8042_load(struct i8042 *dev, const struct state_record *rec, char *err, size_t err_len);

#endif
