/* An I/O APIC (82093AA register set, version 0x20 as on ICH chipsets, which adds the EOI
 * register): 24 input pins, each with a 64-bit redirection entry that turns the pin into an
 * interrupt message (apic_message.h) handed to a delivery callback (the APIC bus).
 *
 * MMIO window (LAYOUT_IOAPIC, 4 KiB): IOREGSEL at 0x00 (register index), IOWIN at 0x10 (the
 * selected register), EOI at 0x40 (write a vector: clears the remote IRR of the level-triggered
 * entries with that vector, as a local APIC's EOI broadcast does). Indirect registers: 0x00 ID
 * (bits 27:24), 0x01 version (0x00170020: 24 entries, version 0x20), 0x02 arbitration ID, 0x10 +
 * 2n / 0x11 + 2n the low / high halves of entry n. Reserved indexes read 0 and ignore writes;
 * IOREGSEL keeps 8 bits, so no index is out of reach.
 *
 * Redirection entry: vector 7:0, delivery mode 10:8 (fixed, lowest priority, SMI, NMI, INIT,
 * ExtINT; 3 and 6 are reserved and deliver nothing), destination mode 11, delivery status 12
 * (read-only; delivery is immediate, so always 0), polarity 13, remote IRR 14 (read-only),
 * trigger mode 15, mask 16, destination 63:56 plus the extended destination ID 55:49 (bits
 * 14:8 of the APIC ID, as Linux writes them when the hypervisor offers it); bit 48 set means a
 * remappable-format entry, which needs an IOMMU this machine does not have: such entries
 * deliver nothing.
 *
 * Semantics: an edge entry sends one message per rising edge of its pin while unmasked (an edge
 * on a masked pin is lost, as the datasheet says); a level entry sends while its pin is
 * asserted, unmasked and its remote IRR clear, sets remote IRR when a local APIC accepted the
 * message, and sends again after the EOI if the pin is still asserted (also when unmasked or
 * reprogrammed with the pin asserted). Reprogramming an entry as edge clears its remote IRR
 * (Linux does that to unstick an entry on I/O APICs without the EOI register). NMI, SMI, INIT
 * and ExtINT are sent as edge messages whatever the trigger bit says. Inputs are the pins'
 * asserted state: like KVM's and QEMU's I/O APICs, the polarity bit is kept but does not
 * invert them (the board's lines carry "asserted", not electrical levels).
 *
 * The model has no lock: its owner (pc_irqchip) serialises every call, including the delivery
 * callback, which must not call back into this I/O APIC. */
#ifndef GUREUM_DEVICES_IOAPIC_H
#define GUREUM_DEVICES_IOAPIC_H

#include "devices/apic_message.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOAPIC_PINS	     24
#define IOAPIC_VERSION	     0x20
#define IOAPIC_MMIO_SIZE     0x1000
#define IOAPIC_REG_SELECT    0x00
#define IOAPIC_REG_WINDOW    0x10
#define IOAPIC_REG_EOI	     0x40
#define IOAPIC_INDEX_ID	     0x00
#define IOAPIC_INDEX_VERSION 0x01
#define IOAPIC_INDEX_ARB     0x02
#define IOAPIC_INDEX_REDIR   0x10

/* Redirection entry bits. */
#define IOAPIC_RTE_VECTOR	  0xffULL
#define IOAPIC_RTE_MODE_SHIFT	  8
#define IOAPIC_RTE_LOGICAL	  (1ULL << 11)
#define IOAPIC_RTE_DELIVERY_BUSY  (1ULL << 12)
#define IOAPIC_RTE_ACTIVE_LOW	  (1ULL << 13)
#define IOAPIC_RTE_REMOTE_IRR	  (1ULL << 14)
#define IOAPIC_RTE_LEVEL	  (1ULL << 15)
#define IOAPIC_RTE_MASKED	  (1ULL << 16)
#define IOAPIC_RTE_REMAPPABLE	  (1ULL << 48)
#define IOAPIC_RTE_EXT_DEST_SHIFT 49
#define IOAPIC_RTE_DEST_SHIFT	  56

/* Returns how many local APICs accepted the message. */
typedef unsigned (*ioapic_deliver_fn)(void *opaque, const struct apic_message *msg);

struct ioapic {
	uint8_t id; /* 4 bits */
	uint8_t select;
	uint64_t redir[IOAPIC_PINS];
	uint32_t lines; /* pins asserted */
	ioapic_deliver_fn deliver;
	void *opaque;
	uint64_t messages; /* sent, for tests and --stats */
};

void ioapic_init(struct ioapic *io, uint8_t id, ioapic_deliver_fn deliver, void *opaque);
/* Every entry masked, edge, vector 0; the pins keep their levels. */
void ioapic_reset(struct ioapic *io);
/* Pin `pin` (0-23; others ignored) asserted or not. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);
/* End of interrupt for `vector` (a local APIC's EOI broadcast, or the EOI register). */
void ioapic_eoi(struct ioapic *io, uint8_t vector);
/* Guest accesses at `offset` in the window, `size` 1, 2, 4 or 8 bytes, little endian. */
void ioapic_mmio_read(struct ioapic *io, uint64_t offset, void *data, unsigned size);
void ioapic_mmio_write(struct ioapic *io, uint64_t offset, const void *data, unsigned size);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "ioapic" (lib/state_record.h): ID, register
 * select, the 24 redirection entries (with their remote IRR bits) and the pin levels. */
void ioapic_save(const struct ioapic *io, struct state_writer *w);
/* Returns 0, or -1 with one sentence in err and the I/O APIC unchanged. No message is sent:
 * what was in flight at the save is in the LAPICs' saved state. */
int ioapic_load(struct ioapic *io, const struct state_record *rec, char *err, size_t err_len);

#endif
