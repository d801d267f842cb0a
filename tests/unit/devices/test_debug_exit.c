/* QEMU's isa-debug-exit as a guest sees it: (v << 1) | 1 for a write of v, at every port of its
 * iosize and for writes of any width, also wider than the ports left (QEMU hands an I/O access
 * whole to the region of its first byte). */
#include "devices/debug_exit.h"
#include "devices/io_bus.h"

#include <criterion/criterion.h>

#define PORT 0x501 /* QEMU's default iobase */

struct exits {
	unsigned count;
	int status;
};

static void record_exit(void *opaque, int status)
{
	struct exits *e = opaque;
	e->count++;
	e->status = status;
}

static struct io_bus bus;
static struct debug_exit dev;
static struct exits exits;

static void setup(void)
{
	io_bus_init(&bus, "pio");
	exits = (struct exits){0};
}

static void teardown(void)
{
	io_bus_destroy(&bus);
}

TestSuite(debug_exit, .init = setup, .fini = teardown);

static void attach(uint16_t port, unsigned iosize)
{
	cr_assert_eq(debug_exit_init(&dev, port, record_exit, &exits), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, iosize), 0);
	cr_assert_eq(debug_exit_attach(&dev, &bus), 0);
}

/* Writes `size` bytes of `value` at `port`; returns the status, or -1 if the VM runs on. */
static int write_port(uint16_t port, uint32_t value, unsigned size)
{
	unsigned before = exits.count;
	io_bus_write(&bus, port, &value, size);
	if (exits.count == before)
		return -1;
	cr_assert_eq(exits.count, before + 1);
	return exits.status;
}

Test(debug_exit, status_is_value_shifted_left_with_bit_0_set)
{
	attach(PORT, 4);
	cr_assert_eq(write_port(PORT, 0x01, 1), 0x03);
	cr_assert_eq(write_port(PORT, 0x00, 1), 0x01);
	cr_assert_eq(write_port(PORT, 0x1234, 2), 0x2469);
	cr_assert_eq(write_port(PORT, 0x00100010, 4), 0x00200021);
}

Test(debug_exit, is_one_port_unless_told_otherwise)
{
	cr_assert_eq(debug_exit_init(&dev, 0xf4, record_exit, &exits), 0);
	cr_assert_eq(dev.iosize, 1);
	cr_assert_eq(debug_exit_attach(&dev, &bus), 0);
	cr_assert_eq(write_port(0xf4, 0x10, 1), 0x21);
	cr_assert_eq(write_port(0xf5, 0x10, 1), -1, "0xf5 is not ours");
}

Test(debug_exit, a_write_wider_than_the_port_exits_with_its_whole_value)
{
	/* Test kernels written for QEMU often end with a 32-bit out. */
	attach(0xf4, 1);
	cr_assert_eq(write_port(0xf4, 0x10, 4), 0x21);
	cr_assert_eq(write_port(0xf4, 0x12345678, 4), (int)0x2468acf1);
	cr_assert_eq(write_port(0xf4, 0x0110, 2), 0x0221);
}

Test(debug_exit, every_port_of_iosize_takes_writes_of_any_width)
{
	attach(0xf4, 4);
	for (uint16_t port = 0xf4; port < 0xf8; port++) {
		cr_assert_eq(write_port(port, 0x10, 1), 0x21, "byte at %#x", port);
		cr_assert_eq(write_port(port, 0x10, 2), 0x21, "word at %#x", port);
		cr_assert_eq(write_port(port, 0x10, 4), 0x21, "dword at %#x", port);
	}
	cr_assert_eq(write_port(0xf8, 0x10, 1), -1, "past the ports");
	cr_assert_eq(write_port(0xf3, 0x10, 4), -1, "starting below them");
}

Test(debug_exit, reads_as_zero_at_any_width)
{
	attach(0xf4, 2);
	uint32_t value = 0xffffffff;
	cr_assert(io_bus_read(&bus, 0xf4, &value, 4));
	cr_assert_eq(value, 0);
	cr_assert_eq(exits.count, 0);
}

Test(debug_exit, rejects_bad_configuration)
{
	cr_assert_eq(debug_exit_init(&dev, PORT, NULL, NULL), -1);
	cr_assert_eq(debug_exit_init(&dev, PORT, record_exit, NULL), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, 0), -1);
	cr_assert_eq(debug_exit_set_iosize(&dev, 3), -1);
	cr_assert_eq(debug_exit_set_iosize(&dev, 8), -1);
	cr_assert_eq(dev.iosize, 1, "unchanged");
	cr_assert_eq(debug_exit_init(&dev, 0xfffe, record_exit, NULL), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, 2), 0, "0xfffe..0xffff");
	cr_assert_eq(debug_exit_set_iosize(&dev, 4), -1, "would run past 0xffff");
	cr_assert(debug_exit_ports_valid(0xffff, 1));
	cr_assert_not(debug_exit_ports_valid(0xffff, 2));
	cr_assert_not(debug_exit_ports_valid(0x10000, 1));
}

Test(debug_exit, ports_taken_by_another_device_are_refused)
{
	struct debug_exit other;
	cr_assert_eq(debug_exit_init(&other, 0xf6, record_exit, &exits), 0);
	cr_assert_eq(debug_exit_attach(&other, &bus), 0);
	cr_assert_eq(debug_exit_init(&dev, 0xf4, record_exit, &exits), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, 4), 0);
	cr_assert_eq(debug_exit_attach(&dev, &bus), -1, "0xf6 is taken");
}
