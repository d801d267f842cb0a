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

static void check_size(unsigned size, uint32_t value, int expected)
{
	struct io_bus bus;
	struct debug_exit dev;
	struct exits exits = {0};
	io_bus_init(&bus, "pio");
	cr_assert_eq(debug_exit_init(&dev, PORT, record_exit, &exits), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, size), 0);
	cr_assert_eq(debug_exit_attach(&dev, &bus), 0);
	cr_assert(io_bus_write(&bus, PORT, &value, size));
	cr_assert_eq(exits.count, 1, "size %u", size);
	cr_assert_eq(exits.status, expected, "size %u: got %#x", size, exits.status);
	io_bus_destroy(&bus);
}

Test(debug_exit, status_is_value_shifted_left_with_bit_0_set)
{
	check_size(1, 0x01, 0x03);
	check_size(1, 0x00, 0x01);
	check_size(2, 0x1234, 0x2469);
	check_size(4, 0x00100010, 0x00200021);
}

Test(debug_exit, narrower_access_than_the_port_does_not_exit)
{
	struct io_bus bus;
	struct debug_exit dev;
	struct exits exits = {0};
	io_bus_init(&bus, "pio");
	cr_assert_eq(debug_exit_init(&dev, 0xf4, record_exit, &exits), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, 4), 0);
	cr_assert_eq(debug_exit_attach(&dev, &bus), 0);
	uint8_t byte = 1;
	cr_assert(io_bus_write(&bus, 0xf5, &byte, 1));
	cr_assert_eq(exits.count, 0);
	io_bus_destroy(&bus);
}

Test(debug_exit, rejects_bad_configuration)
{
	struct debug_exit dev;
	cr_assert_eq(debug_exit_init(&dev, PORT, NULL, NULL), -1);
	cr_assert_eq(debug_exit_init(&dev, PORT, record_exit, NULL), 0);
	cr_assert_eq(debug_exit_set_iosize(&dev, 3), -1);
	cr_assert_eq(debug_exit_set_iosize(&dev, 8), -1);
}
