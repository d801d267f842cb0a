#include "devices/ioapic.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>
#include <string.h>

#define MAX_MESSAGES 64

static struct ioapic io;
static struct apic_message sent[MAX_MESSAGES];
static unsigned nsent;
static unsigned accepters; /* what the fake APIC bus answers */

static unsigned deliver(void *opaque, const struct apic_message *msg)
{
	(void)opaque;
	if (nsent < MAX_MESSAGES)
		sent[nsent] = *msg;
	nsent++;
	return accepters;
}

static void setup(void)
{
	nsent = 0;
	accepters = 1;
	ioapic_init(&io, 0, deliver, NULL);
}

static void write32(uint64_t offset, uint32_t v)
{
	ioapic_mmio_write(&io, offset, &v, 4);
}

static uint32_t read32(uint64_t offset)
{
	uint32_t v;
	ioapic_mmio_read(&io, offset, &v, 4);
	return v;
}

static uint32_t reg_read(uint8_t index)
{
	write32(IOAPIC_REG_SELECT, index);
	return read32(IOAPIC_REG_WINDOW);
}

static void reg_write(uint8_t index, uint32_t v)
{
	write32(IOAPIC_REG_SELECT, index);
	write32(IOAPIC_REG_WINDOW, v);
}

/* As Linux's ioapic_write_entry(): the high half first, then the low half. */
static void program(unsigned pin, uint64_t entry)
{
	reg_write((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin + 1), (uint32_t)(entry >> 32));
	reg_write((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin), (uint32_t)entry);
}

static uint64_t entry_of(unsigned pin)
{
	return reg_read((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin)) |
	       (uint64_t)reg_read((uint8_t)(IOAPIC_INDEX_REDIR + 2 * pin + 1)) << 32;
}

TestSuite(ioapic, .init = setup);

Test(ioapic, identification_registers)
{
	cr_assert_eq(reg_read(IOAPIC_INDEX_VERSION), 0x00170020);
	cr_assert_eq(reg_read(IOAPIC_INDEX_ID), 0);
	reg_write(IOAPIC_INDEX_ID, 0x0a000000);
	cr_assert_eq(reg_read(IOAPIC_INDEX_ID), 0x0a000000);
	cr_assert_eq(reg_read(IOAPIC_INDEX_ARB), 0x0a000000);
	reg_write(IOAPIC_INDEX_ID, 0xffffffff);
	cr_assert_eq(reg_read(IOAPIC_INDEX_ID), 0x0f000000, "4-bit ID");
	reg_write(IOAPIC_INDEX_VERSION, 0);
	cr_assert_eq(reg_read(IOAPIC_INDEX_VERSION), 0x00170020, "read-only");
	cr_assert_eq(reg_read(0x05), 0, "reserved");
	cr_assert_eq(reg_read(0x40), 0, "past the last entry");
	cr_assert_eq(reg_read(0xff), 0);
}

Test(ioapic, entries_come_up_masked)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		cr_assert_eq(entry_of(pin), IOAPIC_RTE_MASKED);
	ioapic_set_irq(&io, 4, true);
	cr_assert_eq(nsent, 0);
}

Test(ioapic, linux_edge_interrupt)
{
	program(4, 0x31 | 1ULL << IOAPIC_RTE_DEST_SHIFT);
	cr_assert_eq(entry_of(4), 0x31 | 1ULL << IOAPIC_RTE_DEST_SHIFT);
	ioapic_set_irq(&io, 4, true);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sent[0].vector, 0x31);
	cr_assert_eq(sent[0].mode, APIC_DM_FIXED);
	cr_assert_eq(sent[0].dest, 1);
	cr_assert_not(sent[0].logical);
	cr_assert_not(sent[0].level_triggered);
	cr_assert_not(sent[0].x2apic_format);
	cr_assert(sent[0].assert);
	cr_assert_eq(sent[0].source, -1);
	ioapic_set_irq(&io, 4, true);
	cr_assert_eq(nsent, 1, "a held edge line sends once");
	ioapic_set_irq(&io, 4, false);
	ioapic_set_irq(&io, 4, true);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(entry_of(4) & IOAPIC_RTE_REMOTE_IRR, 0, "edge entries have no remote IRR");
}

Test(ioapic, edge_on_a_masked_pin_is_lost)
{
	program(3, 0x40 | IOAPIC_RTE_MASKED);
	ioapic_set_irq(&io, 3, true);
	program(3, 0x40);
	cr_assert_eq(nsent, 0);
	ioapic_set_irq(&io, 3, false);
	ioapic_set_irq(&io, 3, true);
	cr_assert_eq(nsent, 1);
}

Test(ioapic, linux_level_interrupt_with_eoi_broadcast)
{
	program(16, 0x51 | IOAPIC_RTE_LEVEL | IOAPIC_RTE_ACTIVE_LOW);
	ioapic_set_irq(&io, 16, true);
	cr_assert_eq(nsent, 1);
	cr_assert(sent[0].level_triggered);
	cr_assert(entry_of(16) & IOAPIC_RTE_REMOTE_IRR);
	ioapic_set_irq(&io, 16, true);
	ioapic_set_irq(&io, 16, false);
	ioapic_set_irq(&io, 16, true);
	cr_assert_eq(nsent, 1, "remote IRR holds further messages");
	/* The handler did not quiet the device: the EOI brings the interrupt back. */
	ioapic_eoi(&io, 0x51);
	cr_assert_eq(nsent, 2);
	cr_assert(entry_of(16) & IOAPIC_RTE_REMOTE_IRR);
	/* This time it did. */
	ioapic_set_irq(&io, 16, false);
	ioapic_eoi(&io, 0x51);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(entry_of(16) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_eoi(&io, 0x51);
	cr_assert_eq(nsent, 2);
}

Test(ioapic, eoi_register_of_version_0x20)
{
	program(9, 0x61 | IOAPIC_RTE_LEVEL);
	ioapic_set_irq(&io, 9, true);
	write32(IOAPIC_REG_EOI, 0x62);
	cr_assert(entry_of(9) & IOAPIC_RTE_REMOTE_IRR, "another vector");
	write32(IOAPIC_REG_EOI, 0x61);
	cr_assert_eq(nsent, 2, "still asserted: sent again");
	ioapic_set_irq(&io, 9, false);
	write32(IOAPIC_REG_EOI, 0x61);
	cr_assert_eq(entry_of(9) & IOAPIC_RTE_REMOTE_IRR, 0);
	cr_assert_eq(read32(IOAPIC_REG_EOI), 0, "write-only");
}

Test(ioapic, level_without_any_acceptor_sets_no_remote_irr)
{
	accepters = 0;
	program(10, 0x70 | IOAPIC_RTE_LEVEL);
	ioapic_set_irq(&io, 10, true);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(entry_of(10) & IOAPIC_RTE_REMOTE_IRR, 0);
	accepters = 1;
	program(10, 0x70 | IOAPIC_RTE_LEVEL | 2ULL << IOAPIC_RTE_DEST_SHIFT);
	cr_assert_eq(nsent, 2, "retargeting an asserted level entry sends");
	cr_assert(entry_of(10) & IOAPIC_RTE_REMOTE_IRR);
}

Test(ioapic, unmasking_an_asserted_level_pin_sends)
{
	program(11, 0x72 | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED);
	ioapic_set_irq(&io, 11, true);
	cr_assert_eq(nsent, 0);
	program(11, 0x72 | IOAPIC_RTE_LEVEL);
	cr_assert_eq(nsent, 1);
	/* Masking with remote IRR set keeps it until the EOI. */
	program(11, 0x72 | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED);
	cr_assert(entry_of(11) & IOAPIC_RTE_REMOTE_IRR);
	ioapic_eoi(&io, 0x72);
	cr_assert_eq(nsent, 1, "masked");
	cr_assert_eq(entry_of(11) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(ioapic, read_only_bits_ignore_writes)
{
	program(5, 0x33 | IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVERY_BUSY | 0xfffe0000ULL);
	cr_assert_eq(entry_of(5), 0x33);
	program(5, 0x33 | 0x0000ffffULL << 32);
	cr_assert_eq(entry_of(5), 0x33, "high bits 47:32 are reserved");
}

Test(ioapic, switching_to_edge_clears_remote_irr)
{
	program(20, 0x90 | IOAPIC_RTE_LEVEL);
	ioapic_set_irq(&io, 20, true);
	cr_assert(entry_of(20) & IOAPIC_RTE_REMOTE_IRR);
	program(20, 0x90 | IOAPIC_RTE_MASKED);
	cr_assert_eq(entry_of(20) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_set_irq(&io, 20, false);
	program(20, 0x90 | IOAPIC_RTE_LEVEL);
	cr_assert_eq(nsent, 1);
}

Test(ioapic, logical_lowest_priority_and_extended_destination)
{
	program(7, 0xa1 | (uint64_t)APIC_DM_LOWEST << 8 | IOAPIC_RTE_LOGICAL |
		       0x0fULL << IOAPIC_RTE_DEST_SHIFT);
	ioapic_set_irq(&io, 7, true);
	cr_assert_eq(sent[0].mode, APIC_DM_LOWEST);
	cr_assert(sent[0].logical);
	cr_assert_eq(sent[0].dest, 0x0f);
	program(8, 0xa2 | 0x12ULL << IOAPIC_RTE_DEST_SHIFT | 0x03ULL << IOAPIC_RTE_EXT_DEST_SHIFT);
	ioapic_set_irq(&io, 8, true);
	cr_assert_eq(sent[1].dest, 0x312, "Linux's extended destination ID: APIC ID bits 14:8");
}

Test(ioapic, remappable_and_reserved_modes_send_nothing)
{
	program(1, 0x41 | IOAPIC_RTE_REMAPPABLE);
	ioapic_set_irq(&io, 1, true);
	program(2, 0x42 | (uint64_t)APIC_DM_REMRD << 8);
	ioapic_set_irq(&io, 2, true);
	program(3, 0x43 | (uint64_t)APIC_DM_STARTUP << 8);
	ioapic_set_irq(&io, 3, true);
	cr_assert_eq(nsent, 0);
}

Test(ioapic, nmi_init_extint_are_edge_messages)
{
	program(0, (uint64_t)APIC_DM_EXTINT << 8 | IOAPIC_RTE_LEVEL);
	ioapic_set_irq(&io, 0, true);
	cr_assert_eq(sent[0].mode, APIC_DM_EXTINT);
	cr_assert_not(sent[0].level_triggered);
	cr_assert_eq(entry_of(0) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_set_irq(&io, 0, true);
	cr_assert_eq(nsent, 1, "edge semantics");
	program(6, (uint64_t)APIC_DM_NMI << 8);
	ioapic_set_irq(&io, 6, true);
	cr_assert_eq(sent[1].mode, APIC_DM_NMI);
}

Test(ioapic, register_access_widths)
{
	uint8_t sel = IOAPIC_INDEX_VERSION;
	ioapic_mmio_write(&io, IOAPIC_REG_SELECT, &sel, 1);
	uint8_t b;
	ioapic_mmio_read(&io, IOAPIC_REG_WINDOW + 2, &b, 1);
	cr_assert_eq(b, 0x17, "byte 2 of the version register");
	uint64_t q = 0;
	ioapic_mmio_read(&io, IOAPIC_REG_WINDOW, &q, 8);
	cr_assert_eq(q, 0x00170020);
	ioapic_mmio_read(&io, IOAPIC_REG_SELECT, &b, 1);
	cr_assert_eq(b, IOAPIC_INDEX_VERSION);
	/* 64-bit write to IOWIN: the low 32 bits count. */
	write32(IOAPIC_REG_SELECT, IOAPIC_INDEX_REDIR + 2 * 3);
	q = 0xffffffff00000055ULL;
	ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, &q, 8);
	cr_assert_eq(entry_of(3), 0x55);
	/* Narrow and misaligned writes to the window are ignored. */
	uint16_t w = 0x66;
	write32(IOAPIC_REG_SELECT, IOAPIC_INDEX_REDIR + 2 * 3);
	ioapic_mmio_write(&io, IOAPIC_REG_WINDOW, &w, 2);
	ioapic_mmio_write(&io, IOAPIC_REG_WINDOW + 4, &q, 4);
	cr_assert_eq(entry_of(3), 0x55);
	cr_assert_eq(read32(0x20), 0);
	cr_assert_eq(read32(0xff0), 0);
	ioapic_mmio_read(&io, 0x1ffc, &q, 8);
	cr_assert_eq(q, 0);
}

Test(ioapic, pins_out_of_range_are_ignored)
{
	ioapic_set_irq(&io, 24, true);
	ioapic_set_irq(&io, 0xffffffff, true);
	cr_assert_eq(io.lines, 0);
}

Test(ioapic, reset_masks_and_keeps_lines)
{
	program(4, 0x31);
	ioapic_set_irq(&io, 4, true);
	ioapic_reset(&io);
	cr_assert_eq(entry_of(4), IOAPIC_RTE_MASKED);
	cr_assert_eq(io.lines, 1u << 4);
}

/* ---- saved state ---- */

/* A level interrupt delivered and not yet EOI'd (remote IRR set, the line still asserted):
 * after save, power cycle and load, the entry reads back the same, nothing is sent again
 * until the EOI, and the EOI resends because the line is still up. */
Test(ioapic, saved_state_keeps_a_level_interrupt_in_flight)
{
	program(9, 0x39 | IOAPIC_RTE_LEVEL | 1ULL << IOAPIC_RTE_DEST_SHIFT);
	ioapic_set_irq(&io, 9, true);
	cr_assert_eq(nsent, 1);
	uint64_t entry = entry_of(9);
	cr_assert(entry & IOAPIC_RTE_REMOTE_IRR);
	struct state_writer w;
	state_writer_init(&w);
	ioapic_save(&io, &w);
	cr_assert_not(state_writer_failed(&w));

	ioapic_init(&io, 0, deliver, NULL);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(ioapic_load(&io, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(entry_of(9), entry);
	cr_assert_eq(nsent, 1, "loading sends nothing");
	ioapic_eoi(&io, 0x39);
	cr_assert_eq(nsent, 2, "the line is still asserted after the load: the EOI resends");

	state_writer_free(&w);
	state_writer_init(&w);
	state_record_begin(&w, "ioapic", 1, 1);
	state_put_u64(&w, "id", 16, STATE_ESSENTIAL); /* IDs have four bits */
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(ioapic_load(&io, &rec, err, sizeof(err)), -1);
	cr_assert_eq(entry_of(9) & 0xff, 0x39, "a refused load changed the I/O APIC");
	state_writer_free(&w);
}
