#include "devices/ioapic.h"

#include "lib/little_endian.h"
#include "lib/state_record.h"

#include <stdio.h>

#include <string.h>

#define MAX_REDIR_ENTRY (IOAPIC_PINS - 1)
/* Writable bits: the low half minus delivery status and remote IRR, the high half's 31:16
 * (destination, extended destination, remappable format). */
#define RTE_WRITABLE_LOW  0x1afffULL
#define RTE_WRITABLE_HIGH 0xffff0000ULL
#define RTE_READ_ONLY	  (IOAPIC_RTE_DELIVERY_BUSY | IOAPIC_RTE_REMOTE_IRR)

static unsigned rte_mode(uint64_t e)
{
	return (unsigned)(e >> IOAPIC_RTE_MODE_SHIFT) & 7;
}

/* Fixed and lowest priority follow the trigger bit; the others are edge messages. */
static bool rte_level(uint64_t e)
{
	unsigned mode = rte_mode(e);
	return (e & IOAPIC_RTE_LEVEL) && (mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST);
}

static bool send(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];
	unsigned mode = rte_mode(e);
	if (mode == APIC_DM_REMRD || mode == APIC_DM_STARTUP || (e & IOAPIC_RTE_REMAPPABLE))
		return false;
	struct apic_message msg = {
	    .dest = (uint32_t)(e >> IOAPIC_RTE_DEST_SHIFT) |
		    (uint32_t)((e >> IOAPIC_RTE_EXT_DEST_SHIFT) & 0x7f) << 8,
	    .logical = e & IOAPIC_RTE_LOGICAL,
	    .vector = (uint8_t)(e & IOAPIC_RTE_VECTOR),
	    .mode = (uint8_t)mode,
	    .level_triggered = rte_level(e),
	    .assert = true,
	    .shorthand = APIC_SH_NONE,
	    .source = -1,
	};
	io->messages++;
	return io->deliver && io->deliver(io->opaque, &msg) > 0;
}

/* A level entry: sends if the pin is asserted and nothing is outstanding. */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];
	if (!rte_level(e) || (e & (IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR)) ||
	    !(io->lines & (1u << pin)))
		return;
	if (send(io, pin))
		io->redir[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

void ioapic_init(struct ioapic *io, uint8_t id, ioapic_deliver_fn deliver, void *opaque)
{
	memset(io, 0, sizeof(*io));
	io->deliver = deliver;
	io->opaque = opaque;
	ioapic_reset(io);
	io->id = id & 0xf;
}

void ioapic_reset(struct ioapic *io)
{
	io->select = 0;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->redir[i] = IOAPIC_RTE_MASKED;
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
	if (pin >= IOAPIC_PINS)
		return;
	uint32_t mask = 1u << pin;
	bool was = io->lines & mask;
	io->lines = level ? io->lines | mask : io->lines & ~mask;
	uint64_t e = io->redir[pin];
	if (rte_level(e))
		service_level(io, pin);
	else if (level && !was && !(e & IOAPIC_RTE_MASKED))
		send(io, pin);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->redir[pin];
		if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->redir[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
		service_level(io, pin);
	}
}

static uint32_t read_indirect(const struct ioapic *io)
{
	unsigned index = io->select;
	switch (index) {
	case IOAPIC_INDEX_ID:
	case IOAPIC_INDEX_ARB:
		return (uint32_t)io->id << 24;
	case IOAPIC_INDEX_VERSION:
		return (uint32_t)MAX_REDIR_ENTRY << 16 | IOAPIC_VERSION;
	default:
		if (index < IOAPIC_INDEX_REDIR || index >= IOAPIC_INDEX_REDIR + 2 * IOAPIC_PINS)
			return 0;
		uint64_t e = io->redir[(index - IOAPIC_INDEX_REDIR) / 2];
		return (uint32_t)(index & 1 ? e >> 32 : e);
	}
}

static void write_indirect(struct ioapic *io, uint32_t value)
{
	unsigned index = io->select;
	if (index == IOAPIC_INDEX_ID) {
		io->id = (value >> 24) & 0xf;
		return;
	}
	if (index < IOAPIC_INDEX_REDIR || index >= IOAPIC_INDEX_REDIR + 2 * IOAPIC_PINS)
		return; /* version, arbitration and reserved registers are read-only */
	unsigned pin = (index - IOAPIC_INDEX_REDIR) / 2;
	uint64_t old = io->redir[pin], e;
	const uint64_t high = RTE_WRITABLE_HIGH << 32;
	if (index & 1)
		e = (old & ~high) | ((uint64_t)value << 32 & high);
	else
		e = (old & (RTE_READ_ONLY | high)) | (value & RTE_WRITABLE_LOW);
	if (!rte_level(e))
		e &= ~IOAPIC_RTE_REMOTE_IRR;
	io->redir[pin] = e;
	/* A level entry just unmasked or retargeted with its pin asserted sends now. */
	service_level(io, pin);
}

/* Registers are 32 bits at the start of 16-byte slots; narrower reads see part of one. */
void ioapic_mmio_read(struct ioapic *io, uint64_t offset, void *data, unsigned size)
{
	uint8_t slot[16] = {0};
	uint32_t value = 0;
	if (offset < IOAPIC_MMIO_SIZE) {
		switch (offset & ~0xfULL) {
		case IOAPIC_REG_SELECT:
			value = io->select;
			break;
		case IOAPIC_REG_WINDOW:
			value = read_indirect(io);
			break;
		default: /* EOI is write-only; the rest of the window is empty */
			break;
		}
	}
	memcpy(slot, &value, sizeof(value));
	unsigned start = (unsigned)(offset & 0xf);
	unsigned n = size > 8 ? 8 : size;
	memset(data, 0, size);
	memcpy(data, slot + start, start + n > sizeof(slot) ? sizeof(slot) - start : n);
}

void ioapic_mmio_write(struct ioapic *io, uint64_t offset, const void *data, unsigned size)
{
	if (offset >= IOAPIC_MMIO_SIZE || (offset & 0xf) || size == 0 || size > 8)
		return;
	uint32_t value = 0;
	memcpy(&value, data, size < 4 ? size : 4);
	switch (offset) {
	case IOAPIC_REG_SELECT: /* any width: the index is one byte */
		io->select = (uint8_t)value;
		break;
	case IOAPIC_REG_WINDOW:
		if (size >= 4)
			write_indirect(io, value);
		break;
	case IOAPIC_REG_EOI:
		if (size >= 4)
			ioapic_eoi(io, (uint8_t)value);
		break;
	default:
		break;
	}
}

/* ---- saved state ---- */

#define IOAPIC_STATE_NAME    "ioapic"
#define IOAPIC_STATE_VERSION 1

static const char *const ioapic_state_keys[] = {"id", "select", "redir", "lines", NULL};

void ioapic_save(const struct ioapic *io, struct state_writer *w)
{
	uint8_t redir[IOAPIC_PINS * 8];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		le_put(redir + pin * 8, io->redir[pin], 8);
	state_record_begin(w, IOAPIC_STATE_NAME, IOAPIC_STATE_VERSION, IOAPIC_STATE_VERSION);
	state_put_u64(w, "id", io->id, STATE_ESSENTIAL);
	state_put_u64(w, "select", io->select, STATE_ESSENTIAL);
	state_put_bytes(w, "redir", redir, sizeof(redir), STATE_ESSENTIAL);
	state_put_u64(w, "lines", io->lines, STATE_ESSENTIAL);
	state_record_end(w);
}

int ioapic_load(struct ioapic *io, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {IOAPIC_STATE_NAME, IOAPIC_STATE_VERSION, 1,
					 ioapic_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	uint64_t id, select, lines;
	const void *redir;
	uint32_t len;
	if (state_get_u64(rec, "id", &id) < 0 || id > 15 ||
	    state_get_u64(rec, "select", &select) < 0 || select > 0xff ||
	    state_get_u64(rec, "lines", &lines) < 0 || lines >> IOAPIC_PINS ||
	    state_get_bytes(rec, "redir", &redir, &len) < 0 || len != IOAPIC_PINS * 8) {
		snprintf(err, err_len, "ioapic state: a field is missing or out of range");
		return -1;
	}
	const uint8_t *p = redir;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = le_get(p + pin * 8, 8);
	io->id = (uint8_t)id;
	io->select = (uint8_t)select;
	io->lines = (uint32_t)lines;
	return 0;
}
