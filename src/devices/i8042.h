/* The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command), with a minimal
 * PS/2 keyboard behind it and no aux (mouse) port. It exists so that Linux's i8042 and atkbd
 * drivers probe quickly and without errors, and for its CPU reset line (command 0xFE), which
 * many kernels and boot loaders use to reboot. No keystrokes are ever generated for now. */
#ifndef GUREUM_DEVICES_I8042_H
#define GUREUM_DEVICES_I8042_H

#include "accel/irq.h"
#include "devices/io_bus.h"
#include "devices/power.h"
#include "machine/layout.h"

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

#define I8042_QUEUE_SIZE 16

struct i8042 {
	const struct irq_router *irq;
	uint32_t gsi;
	struct power_callbacks power;
	uint8_t ram[32]; /* internal RAM; ram[0] is the configuration byte */
	uint8_t status;	 /* only SYSFLAG and CMDDAT are stored; OBF is derived from the queue */
	uint8_t output_port;
	uint8_t pending_command;     /* controller command waiting for its data byte, or 0 */
	uint8_t pending_kbd_command; /* keyboard command waiting for its parameter, or 0 */
	uint8_t last_read;	     /* what port 0x60 returns once the queue is empty */
	/* Bytes for the guest to read at port 0x60, oldest first; overflowing bytes are dropped. */
	uint8_t queue[I8042_QUEUE_SIZE];
	unsigned queue_head, queue_count;
	bool irq_level;
};

/* `irq` may be NULL (no interrupts); gsi is normally I8042_KBD_GSI. */
int i8042_init(struct i8042 *dev, const struct irq_router *irq, uint32_t gsi,
	       struct power_callbacks power);
/* Registers ports 0x60 and 0x64, one byte each. Returns 0, or -1 if taken. */
int i8042_attach(struct i8042 *dev, struct io_bus *pio);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "i8042" (lib/state_record.h): internal RAM,
 * status, output port, commands waiting for their data, and the bytes queued for the guest.
 * Call while the VM is paused. */
void i8042_save(const struct i8042 *dev, struct state_writer *w);
/* Returns 0 (the interrupt line set to match), or -1 with one sentence in err and the
 * controller unchanged. */
int i8042_load(struct i8042 *dev, const struct state_record *rec, char *err, size_t err_len);

#endif
