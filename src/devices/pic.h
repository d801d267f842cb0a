/* The PC's pair of 8259A programmable interrupt controllers: the master at ports 0x20/0x21
 * takes IRQ 0-7, the slave at 0xa0/0xa1 takes IRQ 8-15 and is cascaded on the master's IR2; the
 * edge/level control registers (ELCR) of PIIX-style chipsets sit at 0x4d0 (master) and 0x4d1
 * (slave). The master's INT output (INTR) is reported through a callback (on a PC it drives
 * LINT0 of the boot CPU's local APIC, and the I/O APIC's pin 0).
 *
 * Implemented: ICW1-ICW4 (cascade and single mode, auto-EOI, special fully nested mode), OCW1
 * (mask), OCW2 (non-specific, specific and rotating EOI, rotate in auto-EOI mode, set
 * priority), OCW3 (IRR/ISR reads, poll command, special mask mode), edge and level triggering
 * per the ELCR (IRQ 0, 1, 2, 8 and 13 are always edge, as on PIIX), the INTA cycle
 * (pic_acknowledge: vector of the highest-priority request; the spurious IRQ7 vector when no
 * request is left, as when a level line dropped between INT and INTA; IRQ15 would be the
 * slave's, but INTA is atomic here and the master never picks an empty cascade), 8086 mode
 * vectors.
 *
 * Deliberate choices, where the datasheet and virtual hardware part ways:
 * - An edge-triggered request stays in the IRR when its line drops before the INTA cycle (the
 *   8259A would answer with a spurious IRQ7): virtual devices pulse their lines.
 * - The ICW1 LTIM bit is ignored, as on PIIX/ICH chipsets: the ELCR decides.
 * - The cascade input (master IR2) follows the slave's INT output as a level, so a slave with
 *   several requests keeps the master asking without needing a new edge.
 * - ICW1's 8080/8085 mode (no ICW4) still produces 8086 vectors; nothing else exists on a PC.
 *
 * The model has no lock: its owner (pc_irqchip) serialises every call. */
#ifndef GUREUM_DEVICES_PIC_H
#define GUREUM_DEVICES_PIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIC_MASTER_CMD	0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_CMD	0xa0
#define PIC_SLAVE_DATA	0xa1
#define PIC_ELCR_MASTER 0x4d0
#define PIC_ELCR_SLAVE	0x4d1
#define PIC_CASCADE_IRQ 2
#define PIC_IRQS	16

/* Command bytes (port 0x20/0xa0). */
#define PIC_ICW1	    0x10 /* with bit 4 set, a write to the command port starts ICW1 */
#define PIC_ICW1_IC4	    0x01 /* ICW4 follows */
#define PIC_ICW1_SNGL	    0x02 /* single (no cascade): no ICW3 */
#define PIC_ICW4_8086	    0x01
#define PIC_ICW4_AEOI	    0x02
#define PIC_ICW4_SFNM	    0x10
#define PIC_OCW3	    0x08 /* bits 4:3 = 01 select OCW3, 00 OCW2 */
#define PIC_OCW3_READ_IRR   0x0a
#define PIC_OCW3_READ_ISR   0x0b
#define PIC_OCW3_POLL	    0x0c
#define PIC_OCW3_SET_SMM    0x68
#define PIC_OCW3_CLEAR_SMM  0x48
#define PIC_OCW2_NS_EOI	    0x20
#define PIC_OCW2_SPEC_EOI   0x60 /* | IR level */
#define PIC_OCW2_ROT_NS_EOI 0xa0
#define PIC_OCW2_ROT_SP_EOI 0xe0 /* | IR level */
#define PIC_OCW2_SET_PRIO   0xc0 /* | IR level that becomes the lowest priority */
#define PIC_OCW2_ROT_AEOI   0x80 /* set rotate in auto-EOI mode */
#define PIC_OCW2_NO_ROT	    0x00 /* clear rotate in auto-EOI mode */

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t lines;	    /* input levels as last set */
	uint8_t edge_sense; /* edge detector: the level each edge-triggered input had last */
	uint8_t elcr, elcr_mask;
	uint8_t vector_base; /* ICW2 bits 7:3 */
	uint8_t lowest;	     /* IR with the lowest priority (7 after ICW1; moved by rotation) */
	uint8_t init_step;   /* 0: operational; 1, 2, 3: the next data byte is ICW2, 3, 4 */
	uint8_t icw3;
	bool icw4_expected, single, auto_eoi, rotate_in_auto_eoi, fully_nested;
	bool special_mask, poll, read_isr;
};

struct pic {
	struct pic_chip chip[2]; /* master, slave */
	bool intr;		 /* INT output of the master as last reported */
	void (*intr_changed)(void *opaque, bool level);
	void *opaque;
	uint64_t spurious; /* INTA cycles that found no request (IRQ7/IRQ15 answered) */
};

/* `intr_changed` (may be NULL) is called whenever the master's INT output changes. */
void pic_init(struct pic *pic, void (*intr_changed)(void *opaque, bool level), void *opaque);
/* Power-on state: both chips uninitialised (all inputs unmasked, vector base 0), ELCR 0. The
 * input lines keep their levels. */
void pic_reset(struct pic *pic);
/* Sets input `irq` (0-15) to `level` (true = asserted). IRQ 2 is the cascade and is not an
 * input: setting it is ignored. */
void pic_set_irq(struct pic *pic, unsigned irq, bool level);
/* Guest port accesses at the absolute ports above (other ports read 0xff, writes ignored). */
uint8_t pic_read(struct pic *pic, uint16_t port);
void pic_write(struct pic *pic, uint16_t port, uint8_t value);
/* The INTA cycle: the vector of the highest-priority request, now in service. With no
 * request, the spurious vector of IR7 (master, or slave when the master chose the cascade). */
uint8_t pic_acknowledge(struct pic *pic);
/* The master's INT output. */
bool pic_intr(const struct pic *pic);

struct state_writer;
struct state_record;
/* Both chips' guest-visible state as a versioned record "pic" (lib/state_record.h): request,
 * service and mask registers, input levels, initialisation and mode state, ELCR. */
void pic_save(const struct pic *pic, struct state_writer *w);
/* Returns 0 (the INT output recomputed and reported), or -1 with one sentence in err and the
 * PIC unchanged. */
int pic_load(struct pic *pic, const struct state_record *rec, char *err, size_t err_len);

#endif
