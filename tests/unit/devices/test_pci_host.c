#include "devices/io_bus.h"
#include "devices/pci_host.h"
#include "machine/layout.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct io_bus pio, mmio;
static struct pci_host *host; /* 8 KiB per function: keep it off the stack */
static struct pci_function *fn;

static void setup(void)
{
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	host = malloc(sizeof(*host));
	fn = malloc(sizeof(*fn));
	cr_assert(host && fn);
	cr_assert_eq(pci_host_init(host), 0);
	cr_assert_eq(pci_host_attach(host, &pio, &mmio), 0);
}

static void teardown(void)
{
	pci_host_destroy(host);
	free(host);
	free(fn);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
}

static uint32_t conf1_address(unsigned slot, unsigned func, unsigned reg)
{
	return 0x80000000U | slot << 11 | func << 8 | (reg & 0xfc);
}

static uint32_t in(uint16_t port, unsigned size)
{
	uint32_t value = 0;
	cr_assert(io_bus_read(&pio, port, &value, size));
	return value;
}

static void out(uint16_t port, uint32_t value, unsigned size)
{
	cr_assert(io_bus_write(&pio, port, &value, size));
}

static uint32_t conf1_read32(unsigned slot, unsigned func, unsigned reg)
{
	out(0xcf8, conf1_address(slot, func, reg), 4);
	return in(0xcfc, 4);
}

static void conf1_write32(unsigned slot, unsigned func, unsigned reg, uint32_t value)
{
	out(0xcf8, conf1_address(slot, func, reg), 4);
	out(0xcfc, value, 4);
}

static uint64_t ecam_address(unsigned bus, unsigned slot, unsigned func, unsigned reg)
{
	return LAYOUT_PCI_ECAM_START + ((uint64_t)bus << 20 | slot << 15 | func << 12 | reg);
}

static uint32_t ecam_read(uint64_t addr, unsigned size)
{
	uint32_t value = 0;
	cr_assert(io_bus_read(&mmio, addr, &value, size));
	return value;
}

TestSuite(pci_host, .init = setup, .fini = teardown);

Test(pci_host, conf1_reads_the_host_bridge)
{
	cr_assert_eq(conf1_read32(0, 0, PCI_VENDOR_ID),
		     PCI_HOST_BRIDGE_DEVICE << 16 | PCI_HOST_BRIDGE_VENDOR);
	cr_assert_eq(conf1_read32(0, 0, PCI_REVISION_ID) >> 8, PCI_CLASS_BRIDGE_HOST);
	cr_assert_eq((conf1_read32(0, 0, 0x0c) >> 16) & 0xff, PCI_HEADER_TYPE_NORMAL);
	cr_assert_eq(in(0xcf8, 4), conf1_address(0, 0, 0x0c), "address register reads back");
}

Test(pci_host, ecam_reads_the_host_bridge)
{
	cr_assert_eq(ecam_read(ecam_address(0, 0, 0, 0), 4),
		     PCI_HOST_BRIDGE_DEVICE << 16 | PCI_HOST_BRIDGE_VENDOR);
	cr_assert_eq(ecam_read(ecam_address(0, 0, 0, PCI_CLASS_PROG + 1), 2), 0x0600);
	cr_assert_eq(ecam_read(ecam_address(0, 0, 0, 0x100), 4), 0, "no extended capabilities");
}

Test(pci_host, absent_functions_read_all_ones)
{
	cr_assert_eq(conf1_read32(1, 0, 0), 0xffffffff);
	cr_assert_eq(conf1_read32(0, 1, 0), 0xffffffff);
	cr_assert_eq(ecam_read(ecam_address(0, 31, 7, 0), 2), 0xffff);
	cr_assert_eq(ecam_read(ecam_address(1, 0, 0, 0), 4), 0xffffffff, "bus 1 does not exist");
	out(0xcf8, 0x00000000, 4); /* enable bit clear */
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
}

Test(pci_host, byte_and_word_accesses_to_the_data_port)
{
	out(0xcf8, conf1_address(0, 0, 0), 4);
	cr_assert_eq(in(0xcfc, 1), PCI_HOST_BRIDGE_VENDOR & 0xff);
	cr_assert_eq(in(0xcfd, 1), PCI_HOST_BRIDGE_VENDOR >> 8);
	cr_assert_eq(in(0xcfe, 2), PCI_HOST_BRIDGE_DEVICE);
	cr_assert_eq(in(0xcff, 1), PCI_HOST_BRIDGE_DEVICE >> 8);
	out(0xcf8, conf1_address(0, 0, PCI_COMMAND), 4);
	out(0xcfc, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	out(0xcfe, 0xffff, 2); /* status: read-only */
	cr_assert_eq(in(0xcfc, 4), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

Test(pci_host, narrow_accesses_to_the_address_port_are_ignored)
{
	out(0xcf8, conf1_address(0, 0, 0), 4);
	out(0xcfb, 0x01, 1); /* Linux's type-1 probe writes 0xcfb */
	cr_assert_eq(in(0xcf8, 4), conf1_address(0, 0, 0));
}

Test(pci_host, ids_and_status_are_read_only_command_bits_writable)
{
	conf1_write32(0, 0, PCI_VENDOR_ID, 0x12345678);
	conf1_write32(0, 0, PCI_COMMAND, 0xffffffff);
	cr_assert_eq(conf1_read32(0, 0, PCI_VENDOR_ID),
		     PCI_HOST_BRIDGE_DEVICE << 16 | PCI_HOST_BRIDGE_VENDOR);
	cr_assert_eq(conf1_read32(0, 0, PCI_COMMAND), PCI_COMMAND_WRITABLE);
}

static unsigned written_count, written_offset;

static void note_write(struct pci_function *f, unsigned offset, unsigned size)
{
	(void)f;
	(void)size;
	written_count++;
	written_offset = offset;
}

static void add_test_function(void)
{
	pci_function_init(fn, 0x1af4, 0x1041, 0x020000, 1);
	cr_assert_eq(pci_function_add_bar(fn, 0, 0x1000, false, false), 0);
	cr_assert_eq(pci_function_add_bar(fn, 1, 0x20, true, false), 0);
	cr_assert_eq(pci_function_add_bar(fn, 2, 0x4000, false, true), 0);
	fn->config_written = note_write;
	cr_assert_eq(pci_host_add_function(host, 3, 0, fn), 0);
}

Test(pci_host, bar_sizing_of_a_registered_function)
{
	add_test_function();
	cr_assert_eq(conf1_read32(3, 0, 0), 0x1041 << 16 | 0x1af4);
	for (unsigned bar = 0; bar < 6; bar++)
		conf1_write32(3, 0, PCI_BASE_ADDRESS_0 + 4 * bar, 0xffffffff);
	cr_assert_eq(conf1_read32(3, 0, 0x10), 0xfffff000, "4 KiB 32-bit memory");
	cr_assert_eq(conf1_read32(3, 0, 0x14), 0xffffffe1, "32-byte I/O");
	cr_assert_eq(conf1_read32(3, 0, 0x18), 0xffffc004, "16 KiB 64-bit memory, low half");
	cr_assert_eq(conf1_read32(3, 0, 0x1c), 0xffffffff, "high half");
	cr_assert_eq(conf1_read32(3, 0, 0x20), 0, "unimplemented BAR");
	cr_assert_eq(conf1_read32(3, 0, 0x24), 0);
}

Test(pci_host, guest_placement_of_bars_is_visible_to_the_device)
{
	add_test_function();
	conf1_write32(3, 0, 0x10, 0xc0001000);
	conf1_write32(3, 0, 0x14, 0x0000c040);
	conf1_write32(3, 0, 0x18, 0x00004000);
	conf1_write32(3, 0, 0x1c, 0x00000001);
	cr_assert_eq(written_offset, 0x1c);
	cr_assert_eq(written_count, 4);
	cr_assert_eq(pci_function_bar_address(fn, 0), 0xc0001000);
	cr_assert_eq(pci_function_bar_address(fn, 1), 0xc040);
	cr_assert_eq(pci_function_bar_address(fn, 2), 0x100004000ULL);
	conf1_write32(3, 0, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	cr_assert_eq(pci_function_command(fn), PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
}

Test(pci_host, invalid_bars_and_slots_are_refused)
{
	pci_function_init(fn, 0x1af4, 0x1041, 0x020000, 1);
	cr_assert_eq(pci_function_add_bar(fn, 0, 0x1800, false, false), -1, "not a power of 2");
	cr_assert_eq(pci_function_add_bar(fn, 0, 8, false, false), -1, "memory BAR too small");
	cr_assert_eq(pci_function_add_bar(fn, 0, 0x1000, true, false), -1, "I/O BAR too big");
	cr_assert_eq(pci_function_add_bar(fn, 5, 0x1000, false, true), -1, "64-bit BAR 5");
	cr_assert_eq(pci_function_add_bar(fn, 6, 0x1000, false, false), -1);
	cr_assert_eq(pci_function_add_bar(fn, 0, 0x1000, false, true), 0);
	cr_assert_eq(pci_function_add_bar(fn, 1, 0x1000, false, false), -1, "upper half taken");
	cr_assert_eq(pci_host_add_function(host, 0, 0, fn), -1, "host bridge's slot");
	cr_assert_eq(pci_host_add_function(host, 32, 0, fn), -1);
	cr_assert_eq(pci_host_add_function(host, 1, 8, fn), -1);
	cr_assert_eq(pci_host_add_function(host, 1, 0, NULL), -1);
}

Test(pci_host, second_function_makes_function_0_multifunction)
{
	add_test_function();
	struct pci_function *fn1 = malloc(sizeof(*fn1));
	pci_function_init(fn1, 0x1af4, 0x1042, 0x010000, 1);
	cr_assert_eq(pci_host_add_function(host, 3, 1, fn1), 0);
	cr_assert(ecam_read(ecam_address(0, 3, 0, PCI_HEADER_TYPE), 1) & PCI_HEADER_TYPE_MULTIFN);
	cr_assert_eq(ecam_read(ecam_address(0, 3, 1, PCI_DEVICE_ID), 2), 0x1042);
	free(fn1);
}

Test(pci_host, capabilities_are_chained)
{
	pci_function_init(fn, 0x1af4, 0x1041, 0x020000, 1);
	int first = pci_function_add_capability(fn, PCI_CAP_ID_VNDR, 16);
	int second = pci_function_add_capability(fn, PCI_CAP_ID_MSIX, 12);
	cr_assert_eq(first, PCI_CAPABILITIES_START);
	cr_assert_eq(second, PCI_CAPABILITIES_START + 16);
	cr_assert_eq(pci_function_add_capability(fn, PCI_CAP_ID_VNDR, 256), -1, "does not fit");
	cr_assert_eq(pci_host_add_function(host, 2, 0, fn), 0);
	cr_assert(ecam_read(ecam_address(0, 2, 0, PCI_STATUS), 2) & PCI_STATUS_CAP_LIST);
	unsigned at = ecam_read(ecam_address(0, 2, 0, PCI_CAPABILITY_LIST), 1);
	cr_assert_eq(at, (unsigned)first);
	cr_assert_eq(ecam_read(ecam_address(0, 2, 0, at), 2), (unsigned)(second << 8 | 0x09));
	at = (unsigned)second;
	cr_assert_eq(ecam_read(ecam_address(0, 2, 0, at), 2), 0x0011, "last in the list");
}

Test(pci_host, ecam_writes_reach_the_function)
{
	add_test_function();
	uint32_t value = 0xc0002000;
	cr_assert(io_bus_write(&mmio, ecam_address(0, 3, 0, 0x10), &value, 4));
	cr_assert_eq(conf1_read32(3, 0, 0x10), 0xc0002000);
	uint64_t wide = ~0ULL;
	cr_assert(io_bus_write(&mmio, ecam_address(0, 3, 0, 0x10), &wide, 8));
	cr_assert_eq(conf1_read32(3, 0, 0x10), 0xc0002000, "8-byte accesses are ignored");
}

/* ---- saved state ---- */

/* The guest's command bits and the address latch survive save and load into a freshly built
 * host, and a record holding another function's configuration space is refused without a
 * change. */
Test(pci_host, saved_state_keeps_what_the_guest_programmed)
{
	conf1_write32(0, 0, PCI_COMMAND, 0x6);
	out(0xcf8, conf1_address(0, 0, PCI_COMMAND), 4);
	struct state_writer w;
	state_writer_init(&w);
	pci_host_save(host, &w);
	cr_assert_not(state_writer_failed(&w));

	pci_host_destroy(host);
	cr_assert_eq(pci_host_init(host), 0);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(pci_host_load(host, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(in(0xcf8, 4), conf1_address(0, 0, PCI_COMMAND), "the address latch");
	cr_assert_eq(in(0xcfc, 4) & 0xffff, 0x6 & PCI_COMMAND_WRITABLE);

	/* Another function's IDs: refused, nothing changes. */
	struct state_writer other;
	state_writer_init(&other);
	state_record_begin(&other, "pci-host", 1, 1);
	state_put_u64(&other, "config_address", 0, STATE_ESSENTIAL);
	uint8_t foreign[PCI_EXPRESS_CONFIG_SPACE_SIZE] = {0x34, 0x12, 0x78, 0x56};
	state_put_bytes(&other, "bridge", foreign, sizeof(foreign), STATE_ESSENTIAL);
	state_record_end(&other);
	rec = parse_record(&other);
	cr_assert_eq(pci_host_load(host, &rec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "another PCI function"), "%s", err);
	cr_assert_eq(in(0xcf8, 4), conf1_address(0, 0, PCI_COMMAND), "a refused load changed it");
	state_writer_free(&w);
	state_writer_free(&other);
}
