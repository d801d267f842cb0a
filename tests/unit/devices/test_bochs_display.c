/* bochs-display as Linux's bochs driver sees it: its PCI identity and BARs (sized, placed,
 * moved, decoding toggled), the register page (DISPI registers, QEMU's extended registers,
 * the EDID with its checksum), the mode sequence the driver writes becoming the display's
 * view, panning, and values that do not fit refused with the previous mode kept. */
#include "devices/bochs_display.h"
#include "devices/edid.h"
#include "display/display.h"
#include "lib/state_record.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VRAM_AT 0xd0000000ULL
#define REGS_AT 0xcffff000ULL

static struct io_bus pio, mmio;
static struct pci_host *host;
static struct display *display;
static struct bochs_display *bochs;
static struct pci_function *fn;
static char dir[] = "/tmp/gureum-bochs-XXXXXX";
/* What the VMM was told of the VRAM BAR. */
static uint64_t placed_at;
static bool placed_decoding;
static int placements;

static void vram_placed(void *opaque, uint64_t gpa, bool decoding)
{
	(void)opaque;
	placed_at = gpa;
	placed_decoding = decoding;
	placements++;
}

static void setup(void)
{
	io_bus_init(&pio, "pio");
	io_bus_init(&mmio, "mmio");
	host = malloc(sizeof(*host));
	cr_assert(host);
	cr_assert_eq(pci_host_init(host), 0);
	cr_assert_eq(pci_host_attach(host, &pio, &mmio), 0);
	cr_assert_not_null(mkdtemp(dir));
	char spec[256], err[256];
	snprintf(spec, sizeof(spec), "vnc=unix:%s/vnc.sock,adapter=bochs,width=1024,height=768",
		 dir);
	struct display_options o;
	display_options_init(&o);
	cr_assert_eq(display_options_parse(&o, spec, err, sizeof(err)), 0, "%s", err);
	display = display_open(&o, err, sizeof(err));
	cr_assert_not_null(display, "%s", err);
	struct bochs_display_env env = {
	    .mmio = &mmio, .display = display, .vram_placed = vram_placed};
	bochs = bochs_display_create(&env, host, 3, VRAM_AT, REGS_AT, err, sizeof(err));
	cr_assert_not_null(bochs, "%s", err);
	fn = bochs_display_function(bochs);
	placements = 0;
}

static void teardown(void)
{
	bochs_display_destroy(bochs);
	display_close(display);
	pci_host_destroy(host);
	free(host);
	io_bus_destroy(&pio);
	io_bus_destroy(&mmio);
	rmdir(dir);
	strcpy(dir, "/tmp/gureum-bochs-XXXXXX");
}

TestSuite(bochs_display, .init = setup, .fini = teardown, .timeout = 30);

static uint32_t config(unsigned offset, unsigned size)
{
	return pci_function_config_read(fn, offset, size);
}

static void set_config(unsigned offset, uint32_t value, unsigned size)
{
	pci_function_config_write(fn, offset, value, size);
}

static void decode(bool on)
{
	set_config(PCI_COMMAND, on ? PCI_COMMAND_MEMORY : 0, 2);
}

static uint16_t dispi(unsigned index)
{
	uint16_t v = 0;
	cr_assert(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI + 2 * index, &v, 2),
		  "the registers are not mapped");
	return v;
}

static void set_dispi(unsigned index, uint16_t value)
{
	cr_assert(io_bus_write(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI + 2 * index, &value, 2));
}

/* What bochs_hw_setmode writes, in its order. */
static void driver_sets_mode(uint16_t width, uint16_t height, uint16_t bpp)
{
	set_dispi(DISPI_ENABLE, 0);
	set_dispi(DISPI_BPP, bpp);
	set_dispi(DISPI_XRES, width);
	set_dispi(DISPI_YRES, height);
	set_dispi(DISPI_BANK, 0);
	set_dispi(DISPI_VIRT_WIDTH, width);
	set_dispi(DISPI_VIRT_HEIGHT, width ? (uint16_t)(16 * 1024 * 1024 / (width * 4)) : 0);
	set_dispi(DISPI_X_OFFSET, 0);
	set_dispi(DISPI_Y_OFFSET, 0);
	set_dispi(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
}

static struct framebuffer view(void)
{
	struct framebuffer v;
	display_view(display, &v);
	return v;
}

Test(bochs_display, is_qemus_bochs_display_on_pci)
{
	cr_assert_eq(config(PCI_VENDOR_ID, 2), 0x1234);
	cr_assert_eq(config(PCI_DEVICE_ID, 2), 0x1111);
	cr_assert_eq(config(PCI_REVISION_ID, 1), 2);
	cr_assert_eq(config(PCI_CLASS_PROG, 1), 0x00);
	cr_assert_eq(config(PCI_CLASS_PROG + 1, 2), 0x0380);
	cr_assert_eq(config(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(config(PCI_SUBSYSTEM_ID, 2), 0x1100);
	cr_assert_eq(config(PCI_BASE_ADDRESS_0, 4), VRAM_AT | PCI_BASE_ADDRESS_MEM_PREFETCH);
	cr_assert_eq(config(PCI_BASE_ADDRESS_0 + 8, 4), REGS_AT);
}

Test(bochs_display, bars_size_as_pci_says)
{
	set_config(PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	cr_assert_eq(config(PCI_BASE_ADDRESS_0, 4), ~(16U * 1024 * 1024 - 1) | 0x8);
	set_config(PCI_BASE_ADDRESS_0 + 8, 0xffffffff, 4);
	cr_assert_eq(config(PCI_BASE_ADDRESS_0 + 8, 4), ~(4096U - 1));
	cr_assert_eq(config(PCI_BASE_ADDRESS_0 + 4, 4), 0, "BAR 1 is not implemented");
	/* Sizing with decoding on: the register page at all-ones is no address. */
	decode(true);
	uint16_t v;
	cr_assert_not(io_bus_read(&mmio, 0xfffff000ULL + BOCHS_DISPLAY_DISPI, &v, 2));
	set_config(PCI_BASE_ADDRESS_0 + 8, REGS_AT, 4);
	cr_assert(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI, &v, 2));
}

Test(bochs_display, registers_follow_decoding_and_moves)
{
	uint16_t v;
	cr_assert_not(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI, &v, 2),
		      "decoding is off until the guest turns it on");
	decode(true);
	cr_assert_eq(dispi(DISPI_ID), DISPI_ID5);
	cr_assert_eq(placements, 1);
	cr_assert_eq(placed_at, VRAM_AT);
	cr_assert(placed_decoding);
	/* The guest moves both BARs. */
	set_config(PCI_BASE_ADDRESS_0 + 8, 0xc1000000, 4);
	set_config(PCI_BASE_ADDRESS_0, 0xc8000000, 4);
	cr_assert_not(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI, &v, 2));
	cr_assert(io_bus_read(&mmio, 0xc1000000 + BOCHS_DISPLAY_DISPI, &v, 2));
	cr_assert_eq(v, DISPI_ID5);
	cr_assert_eq(placed_at, 0xc8000000);
	cr_assert(placed_decoding);
	decode(false);
	cr_assert_not(placed_decoding);
	cr_assert_not(io_bus_read(&mmio, 0xc1000000 + BOCHS_DISPLAY_DISPI, &v, 2));
}

Test(bochs_display, register_page_as_the_driver_probes_it)
{
	decode(true);
	cr_assert_eq(dispi(DISPI_ID) & 0xfff0, 0xb0c0);
	cr_assert_eq(dispi(DISPI_VIDEO_MEMORY_64K), 256, "16 MiB");
	uint32_t q = 0;
	cr_assert(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_QEXT, &q, 4));
	cr_assert_geq(q, 8);
	cr_assert(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_QEXT_BYTE_ORDER, &q, 4));
	cr_assert_eq(q, BOCHS_DISPLAY_LITTLE_ENDIAN);
	uint32_t big = BOCHS_DISPLAY_BIG_ENDIAN;
	cr_assert(io_bus_write(&mmio, REGS_AT + BOCHS_DISPLAY_QEXT_BYTE_ORDER, &big, 4));
	cr_assert(io_bus_read(&mmio, REGS_AT + BOCHS_DISPLAY_QEXT_BYTE_ORDER, &q, 4));
	cr_assert_eq(q, BOCHS_DISPLAY_LITTLE_ENDIAN, "only little-endian is offered");
	/* GETCAPS: the largest mode. */
	set_dispi(DISPI_ENABLE, DISPI_GETCAPS);
	cr_assert_eq(dispi(DISPI_XRES), DISPLAY_MAX_WIDTH);
	cr_assert_eq(dispi(DISPI_BPP), 32);
	set_dispi(DISPI_ENABLE, 0);
	cr_assert_eq(dispi(DISPI_XRES), 1024);
	/* Writes the page does not take are dropped. */
	uint8_t b = 0x20;
	cr_assert(io_bus_write(&mmio, REGS_AT + BOCHS_DISPLAY_VGA, &b, 1));
	cr_assert(io_bus_write(&mmio, REGS_AT + 0x10, &b, 1));
	cr_assert(io_bus_write(&mmio, REGS_AT + BOCHS_DISPLAY_DISPI + 1, &b, 1));
	cr_assert_eq(dispi(DISPI_ID), DISPI_ID5);
}

Test(bochs_display, edid_names_the_options_size)
{
	decode(true);
	uint8_t e[EDID_BLOCK_SIZE];
	for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
		cr_assert(io_bus_read(&mmio, REGS_AT + i, &e[i], 1));
	static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	cr_assert_eq(memcmp(e, magic, 8), 0);
	uint8_t sum = 0;
	for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
		sum = (uint8_t)(sum + e[i]);
	cr_assert_eq(sum, 0, "the checksum makes the block sum to 0");
	cr_assert_eq(e[18], 1);
	cr_assert_eq(e[19], 4);
	const uint8_t *d = e + 54; /* the first detailed timing: the preferred mode */
	cr_assert_neq(d[0] | d[1], 0, "a timing, not a display descriptor");
	cr_assert_eq(d[2] | (d[4] >> 4) << 8, 1024);
	cr_assert_eq(d[5] | (d[7] >> 4) << 8, 768);
}

Test(edid, large_sizes_are_clamped_and_still_sum_to_zero)
{
	uint8_t e[EDID_BLOCK_SIZE];
	edid_build(e, 7680, 4320);
	uint8_t sum = 0;
	for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
		sum = (uint8_t)(sum + e[i]);
	cr_assert_eq(sum, 0);
	cr_assert_eq(e[56] | (e[58] >> 4) << 8, EDID_MAX_DETAILED);
}

Test(bochs_display, the_drivers_mode_becomes_the_view)
{
	decode(true);
	cr_assert_eq(view().width, 1024, "the options' size until the guest sets a mode");
	driver_sets_mode(800, 600, 32);
	struct framebuffer v = view();
	cr_assert_eq(v.width, 800);
	cr_assert_eq(v.height, 600);
	cr_assert_eq(v.stride, 3200);
	cr_assert_eq(v.log_offset, 0);
	cr_assert_eq(dispi(DISPI_VIRT_HEIGHT), 16 * 1024 * 1024 / 3200);
	/* Page flipping: the driver pans to the second buffer. */
	set_dispi(DISPI_Y_OFFSET, 600);
	v = view();
	cr_assert_eq(v.log_offset, 600 * 3200);
	cr_assert_eq(v.pixels, display_framebuffer(display)->pixels + 600 * 3200);
	set_dispi(DISPI_Y_OFFSET, 0);
	cr_assert_eq(view().log_offset, 0);
}

Test(bochs_display, modes_that_do_not_fit_keep_the_previous_one)
{
	decode(true);
	driver_sets_mode(800, 600, 32);
	driver_sets_mode(640, 480, 16); /* only 32 bits per pixel */
	cr_assert_eq(view().width, 800);
	driver_sets_mode(4000, 3000, 32); /* 48 MB in 16 MiB */
	cr_assert_eq(view().width, 800);
	driver_sets_mode(0, 0, 32);
	cr_assert_eq(view().width, 800);
	driver_sets_mode(1280, 720, 32);
	cr_assert_eq(view().width, 1280);
	set_dispi(DISPI_Y_OFFSET, 0xffff); /* panned past the end */
	cr_assert_eq(view().log_offset, 0);
	set_dispi(DISPI_X_OFFSET, 0xffff);
	set_dispi(DISPI_VIRT_WIDTH, 0xffff);
	struct framebuffer v = view();
	cr_assert_eq(v.width, 1280);
	cr_assert_eq(v.stride, 1280 * 4);
	/* Disabled: what was shown stays. */
	set_dispi(DISPI_ENABLE, 0);
	cr_assert_eq(view().width, 1280);
}

Test(bochs_display, any_access_to_the_page_is_harmless)
{
	decode(true);
	for (uint64_t off = 0; off < BOCHS_DISPLAY_MMIO_SIZE; off += 2) {
		uint64_t v = 0xffffffffffffffffULL;
		for (unsigned size = 1; size <= 8; size *= 2) {
			io_bus_read(&mmio, REGS_AT + off, &v, size);
			io_bus_write(&mmio, REGS_AT + off, &v, size);
		}
	}
	/* The guest wrote all-ones everywhere: still no crash, and a sane mode comes back. */
	driver_sets_mode(1024, 768, 32);
	cr_assert_eq(view().width, 1024);
}

/* A snapshot's record: the restored adapter has the guest's BARs (its VRAM moved where the
 * guest had it), registers and mode; a record with a bad register block is refused. */
Test(bochs_display, saved_and_loaded)
{
	decode(true);
	set_config(PCI_BASE_ADDRESS_0 + 8, 0xc1000000, 4);
	set_config(PCI_BASE_ADDRESS_0, 0xc8000000, 4);
	struct state_writer w;
	state_writer_init(&w);
	bochs_display_save(bochs, &w);
	cr_assert_not(state_writer_failed(&w));
	/* The guest's mode changes after the save: the load brings the saved one back. */
	uint16_t v = 800;
	io_bus_write(&mmio, 0xc1000000 + BOCHS_DISPLAY_DISPI + 2 * DISPI_XRES, &v, 2);
	bochs_display_destroy(bochs);

	char err[256];
	struct bochs_display_env env = {
	    .mmio = &mmio, .display = display, .vram_placed = vram_placed};
	bochs = bochs_display_create(&env, host, 4, VRAM_AT, REGS_AT, err, sizeof(err));
	cr_assert_not_null(bochs, "%s", err);
	fn = bochs_display_function(bochs);
	struct state_record rec;
	size_t pos = 0;
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	placements = 0;
	cr_assert_eq(bochs_display_load(bochs, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(placements, 1);
	cr_assert_eq(placed_at, 0xc8000000);
	cr_assert(io_bus_read(&mmio, 0xc1000000 + BOCHS_DISPLAY_DISPI + 2 * DISPI_XRES, &v, 2));
	cr_assert_eq(v, 1024);
	state_writer_free(&w);

	/* Three registers where eleven belong. */
	state_writer_init(&w);
	state_record_begin(&w, "bochs-display", 1, 1);
	state_put_bytes(&w, "dispi", "abcdef", 6, STATE_ESSENTIAL);
	state_record_end(&w);
	pos = 0;
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0);
	cr_assert_eq(bochs_display_load(bochs, &rec, err, sizeof(err)), -1);
	cr_assert(strstr(err, "dispi"), "%s", err);
	state_writer_free(&w);
}
