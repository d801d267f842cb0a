#include "devices/pic.h"

#include "lib/state_record.h"

#include <stdio.h>

#include <string.h>

#define MASTER 0
#define SLAVE  1

/* PIIX: IRQ 0 (timer), 1 (keyboard), 2 (cascade), 8 (RTC) and 13 (FPU) are always edge. */
#define ELCR_MASK_MASTER 0xf8
#define ELCR_MASK_SLAVE	 0xde

#define NO_IRQ (-1)

/* Priority of IR `irq`: 0 is the highest. The highest priority follows the lowest. */
static unsigned priority_of(const struct pic_chip *c, unsigned irq)
{
	return (irq - c->lowest - 1) & 7;
}

/* The IR of highest priority among `mask`, or NO_IRQ. */
static int highest_in(const struct pic_chip *c, uint8_t mask)
{
	for (unsigned p = 0; p < 8; p++) {
		unsigned irq = (c->lowest + 1 + p) & 7;
		if (mask & (1u << irq))
			return (int)irq;
	}
	return NO_IRQ;
}

/* The request this chip would present on INT now, or NO_IRQ. */
static int chip_request(const struct pic_chip *c, bool is_master)
{
	uint8_t requests = c->irr & ~c->imr;
	if (c->special_mask) {
		/* Special mask mode: every unmasked level not itself in service may interrupt,
		 * lower priorities included. */
		return highest_in(c, requests & ~c->isr);
	}
	int irq = highest_in(c, requests);
	if (irq == NO_IRQ)
		return NO_IRQ;
	int in_service = highest_in(c, c->isr);
	if (in_service == NO_IRQ ||
	    priority_of(c, (unsigned)irq) < priority_of(c, (unsigned)in_service))
		return irq;
	/* Special fully nested mode: the slave may interrupt again while one of its requests
	 * is in service at the master (equal priority on the cascade input). */
	if (is_master && c->fully_nested && irq == PIC_CASCADE_IRQ && in_service == PIC_CASCADE_IRQ)
		return irq;
	return NO_IRQ;
}

static bool is_level(const struct pic_chip *c, unsigned bit)
{
	return c->elcr & (1u << bit);
}

static void update(struct pic *pic)
{
	struct pic_chip *master = &pic->chip[MASTER];
	bool cascade = chip_request(&pic->chip[SLAVE], false) != NO_IRQ;
	uint8_t mask = 1u << PIC_CASCADE_IRQ;
	master->irr = (uint8_t)((master->irr & ~mask) | (cascade ? mask : 0));
	master->lines = (uint8_t)((master->lines & ~mask) | (cascade ? mask : 0));
	bool intr = chip_request(master, true) != NO_IRQ;
	if (intr != pic->intr) {
		pic->intr = intr;
		if (pic->intr_changed)
			pic->intr_changed(pic->opaque, intr);
	}
}

static void chip_reset(struct pic_chip *c, uint8_t elcr_mask)
{
	memset(c, 0, sizeof(*c));
	c->elcr_mask = elcr_mask;
	c->lowest = 7;
}

void pic_init(struct pic *pic, void (*intr_changed)(void *opaque, bool level), void *opaque)
{
	memset(pic, 0, sizeof(*pic));
	pic->intr_changed = intr_changed;
	pic->opaque = opaque;
	pic_reset(pic);
}

void pic_reset(struct pic *pic)
{
	for (int i = 0; i < 2; i++) {
		uint8_t lines = pic->chip[i].lines;
		chip_reset(&pic->chip[i], i == MASTER ? ELCR_MASK_MASTER : ELCR_MASK_SLAVE);
		pic->chip[i].lines = lines;
		pic->chip[i].edge_sense = lines;
	}
	update(pic);
}

void pic_set_irq(struct pic *pic, unsigned irq, bool level)
{
	if (irq >= PIC_IRQS || irq == PIC_CASCADE_IRQ)
		return;
	struct pic_chip *c = &pic->chip[irq >> 3];
	unsigned bit = irq & 7;
	uint8_t mask = 1u << bit;
	c->lines = (uint8_t)(level ? c->lines | mask : c->lines & ~mask);
	if (is_level(c, bit)) {
		c->irr = (uint8_t)(level ? c->irr | mask : c->irr & ~mask);
	} else {
		if (level && !(c->edge_sense & mask))
			c->irr |= mask;
		c->edge_sense = (uint8_t)(level ? c->edge_sense | mask : c->edge_sense & ~mask);
	}
	update(pic);
}

/* What the first INTA pulse (or a poll read) does at one chip for IR `irq`. */
static void chip_acknowledge(struct pic_chip *c, unsigned irq)
{
	uint8_t mask = 1u << irq;
	if (c->auto_eoi) {
		if (c->rotate_in_auto_eoi)
			c->lowest = (uint8_t)irq;
	} else {
		c->isr |= mask;
	}
	/* A level request stays while its line is asserted (it is blocked by the ISR bit). */
	if (!is_level(c, irq))
		c->irr &= ~mask;
}

uint8_t pic_acknowledge(struct pic *pic)
{
	struct pic_chip *master = &pic->chip[MASTER], *slave = &pic->chip[SLAVE];
	int irq = chip_request(master, true);
	uint8_t vector;
	if (irq == NO_IRQ) {
		pic->spurious++;
		vector = master->vector_base | 7;
	} else {
		chip_acknowledge(master, (unsigned)irq);
		if (irq == PIC_CASCADE_IRQ && !master->single) {
			int sirq = chip_request(slave, false);
			if (sirq == NO_IRQ) {
				pic->spurious++;
				vector = slave->vector_base | 7;
			} else {
				chip_acknowledge(slave, (unsigned)sirq);
				vector = slave->vector_base | (uint8_t)sirq;
			}
		} else {
			vector = master->vector_base | (uint8_t)irq;
		}
	}
	update(pic);
	return vector;
}

bool pic_intr(const struct pic *pic)
{
	return pic->intr;
}

static void write_icw1(struct pic_chip *c, uint8_t value)
{
	uint8_t level_lines = c->lines & c->elcr;
	uint8_t lines = c->lines, elcr = c->elcr, elcr_mask = c->elcr_mask;
	chip_reset(c, elcr_mask);
	c->elcr = elcr;
	c->lines = lines;
	/* The edge detector is reset: an edge input already high must go low and high again. */
	c->edge_sense = lines;
	c->irr = level_lines;
	c->icw4_expected = value & PIC_ICW1_IC4;
	c->single = value & PIC_ICW1_SNGL;
	c->init_step = 1;
}

static void write_ocw2(struct pic_chip *c, uint8_t value)
{
	unsigned level = value & 7;
	int highest = highest_in(c, c->isr);
	switch (value >> 5) {
	case 0: /* clear rotate in auto-EOI mode */
		c->rotate_in_auto_eoi = false;
		break;
	case 4: /* set rotate in auto-EOI mode */
		c->rotate_in_auto_eoi = true;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		if (highest != NO_IRQ) {
			c->isr &= ~(1u << highest);
			if (value >> 5 == 5)
				c->lowest = (uint8_t)highest;
		}
		break;
	case 3: /* specific EOI */
		c->isr &= ~(1u << level);
		break;
	case 7: /* rotate on specific EOI */
		c->isr &= ~(1u << level);
		c->lowest = (uint8_t)level;
		break;
	case 6: /* set priority */
		c->lowest = (uint8_t)level;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void write_ocw3(struct pic_chip *c, uint8_t value)
{
	if (value & 0x04)
		c->poll = true;
	if ((value & 0x03) == 0x02)
		c->read_isr = false;
	else if ((value & 0x03) == 0x03)
		c->read_isr = true;
	if ((value & 0x60) == 0x40)
		c->special_mask = false;
	else if ((value & 0x60) == 0x60)
		c->special_mask = true;
}

static void write_data(struct pic_chip *c, uint8_t value)
{
	switch (c->init_step) {
	case 0: /* OCW1 */
		c->imr = value;
		break;
	case 1: /* ICW2 */
		c->vector_base = value & 0xf8;
		c->init_step = !c->single ? 2 : c->icw4_expected ? 3 : 0;
		break;
	case 2: /* ICW3: the wiring is fixed (slave on IR2, slave ID 2), so it is only kept */
		c->icw3 = value;
		c->init_step = c->icw4_expected ? 3 : 0;
		break;
	default: /* ICW4 */
		c->auto_eoi = value & PIC_ICW4_AEOI;
		c->fully_nested = value & PIC_ICW4_SFNM;
		c->init_step = 0;
		break;
	}
}

static void write_elcr(struct pic_chip *c, uint8_t value)
{
	c->elcr = value & c->elcr_mask;
	/* Level inputs request while asserted; edge inputs wait for their next edge. */
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
	c->edge_sense = c->lines;
}

void pic_write(struct pic *pic, uint16_t port, uint8_t value)
{
	struct pic_chip *c;
	switch (port) {
	case PIC_MASTER_CMD:
	case PIC_SLAVE_CMD:
		c = &pic->chip[port == PIC_SLAVE_CMD];
		if (value & PIC_ICW1)
			write_icw1(c, value);
		else if (value & PIC_OCW3)
			write_ocw3(c, value);
		else
			write_ocw2(c, value);
		break;
	case PIC_MASTER_DATA:
	case PIC_SLAVE_DATA:
		write_data(&pic->chip[port == PIC_SLAVE_DATA], value);
		break;
	case PIC_ELCR_MASTER:
	case PIC_ELCR_SLAVE:
		write_elcr(&pic->chip[port == PIC_ELCR_SLAVE], value);
		break;
	default:
		return;
	}
	update(pic);
}

/* A read after the poll command: acknowledges the highest request at this chip alone (the
 * software polls the slave itself when the master answers 2) and says which it was. */
static uint8_t poll_read(struct pic *pic, struct pic_chip *c)
{
	c->poll = false;
	int irq = chip_request(c, c == &pic->chip[MASTER]);
	if (irq == NO_IRQ)
		return 0;
	chip_acknowledge(c, (unsigned)irq);
	update(pic);
	return 0x80 | (uint8_t)irq;
}

uint8_t pic_read(struct pic *pic, uint16_t port)
{
	struct pic_chip *c;
	switch (port) {
	case PIC_MASTER_CMD:
	case PIC_SLAVE_CMD:
		c = &pic->chip[port == PIC_SLAVE_CMD];
		if (c->poll)
			return poll_read(pic, c);
		return c->read_isr ? c->isr : c->irr;
	case PIC_MASTER_DATA:
	case PIC_SLAVE_DATA:
		c = &pic->chip[port == PIC_SLAVE_DATA];
		if (c->poll)
			return poll_read(pic, c);
		return c->imr;
	case PIC_ELCR_MASTER:
	case PIC_ELCR_SLAVE:
		return pic->chip[port == PIC_ELCR_SLAVE].elcr;
	default:
		return 0xff;
	}
}

/* ---- saved state ---- */

#define PIC_STATE_NAME	  "pic"
#define PIC_STATE_VERSION 1
#define CHIP_STATE_BYTES  20

static const char *const pic_state_keys[] = {"master", "slave", NULL};

static void pack_chip(const struct pic_chip *c, uint8_t out[CHIP_STATE_BYTES])
{
	const uint8_t bytes[CHIP_STATE_BYTES] = {
	    c->irr,	     c->isr,	       c->imr,	       c->lines,    c->edge_sense,
	    c->elcr,	     c->elcr_mask,     c->vector_base, c->lowest,   c->init_step,
	    c->icw3,	     c->icw4_expected, c->single,      c->auto_eoi, c->rotate_in_auto_eoi,
	    c->fully_nested, c->special_mask,  c->poll,	       c->read_isr, 0};
	memcpy(out, bytes, CHIP_STATE_BYTES);
}

/* false when a value is out of its range (lowest 0-7, init_step 0-3, flags 0/1, ELCR bits
 * outside its mask). */
static bool unpack_chip(const uint8_t *p, struct pic_chip *c)
{
	for (int i = 11; i < CHIP_STATE_BYTES; i++)
		if (p[i] > 1)
			return false;
	if (p[8] > 7 || p[9] > 3 || (p[5] & ~p[6]))
		return false;
	c->irr = p[0], c->isr = p[1], c->imr = p[2], c->lines = p[3], c->edge_sense = p[4];
	c->elcr = p[5], c->elcr_mask = p[6], c->vector_base = p[7], c->lowest = p[8];
	c->init_step = p[9], c->icw3 = p[10], c->icw4_expected = p[11], c->single = p[12];
	c->auto_eoi = p[13], c->rotate_in_auto_eoi = p[14], c->fully_nested = p[15];
	c->special_mask = p[16], c->poll = p[17], c->read_isr = p[18];
	return true;
}

void pic_save(const struct pic *pic, struct state_writer *w)
{
	uint8_t chip[CHIP_STATE_BYTES];
	state_record_begin(w, PIC_STATE_NAME, PIC_STATE_VERSION, PIC_STATE_VERSION);
	for (int i = 0; i < 2; i++) {
		pack_chip(&pic->chip[i], chip);
		state_put_bytes(w, pic_state_keys[i], chip, sizeof(chip), STATE_ESSENTIAL);
	}
	state_record_end(w);
}

int pic_load(struct pic *pic, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {PIC_STATE_NAME, PIC_STATE_VERSION, 1, pic_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	struct pic_chip chips[2];
	for (int i = 0; i < 2; i++) {
		const void *data;
		uint32_t len;
		if (state_get_bytes(rec, pic_state_keys[i], &data, &len) < 0 ||
		    len != CHIP_STATE_BYTES || !unpack_chip(data, &chips[i])) {
			snprintf(err, err_len, "pic state: the %s chip is missing or out of range",
				 pic_state_keys[i]);
			return -1;
		}
	}
	pic->chip[MASTER] = chips[0];
	pic->chip[SLAVE] = chips[1];
	update(pic);
	return 0;
}
