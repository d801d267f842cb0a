/* The address-decoded bus: claimed and unclaimed accesses, overlaps refused, and ranges that
 * come and go while the bus is in use (a guest moving a PCI BAR), also from inside a handler. */
#include "devices/io_bus.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

static struct io_bus bus;

struct fake_device {
	uint64_t last_offset;
	uint32_t last_value;
	int reads, writes;
};

static void fake_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct fake_device *d = opaque;
	d->reads++;
	d->last_offset = offset;
	memset(data, 0x5a, size);
}

static void fake_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct fake_device *d = opaque;
	d->writes++;
	d->last_offset = offset;
	d->last_value = 0;
	memcpy(&d->last_value, data, size < 4 ? size : 4);
}

static void setup(void)
{
	io_bus_init(&bus, "test");
}

static void teardown(void)
{
	io_bus_destroy(&bus);
}

TestSuite(io_bus, .init = setup, .fini = teardown);

Test(io_bus, dispatches_to_the_range_with_its_offset)
{
	struct fake_device d = {0};
	cr_assert_eq(io_bus_register(&bus, 0x1000, 0x100, fake_read, fake_write, &d, "d"), 0);
	uint32_t v = 0x1234;
	cr_assert(io_bus_write(&bus, 0x1010, &v, 2));
	cr_assert_eq(d.last_offset, 0x10);
	cr_assert_eq(d.last_value, 0x1234);
	cr_assert(io_bus_read(&bus, 0x10fc, &v, 4));
	cr_assert_eq(v, 0x5a5a5a5a);
	cr_assert_eq(bus.ranges[0].accesses, 2);
}

Test(io_bus, unclaimed_reads_are_all_ones_and_counted)
{
	uint32_t v = 0;
	cr_assert_not(io_bus_read(&bus, 0x2000, &v, 4));
	cr_assert_eq(v, 0xffffffff);
	cr_assert_eq(bus.unclaimed_accesses, 1);
}

Test(io_bus, an_access_crossing_the_end_of_a_range_is_unclaimed)
{
	struct fake_device d = {0};
	cr_assert_eq(io_bus_register(&bus, 0x1000, 0x10, fake_read, fake_write, &d, "d"), 0);
	uint64_t v = 0;
	cr_assert_not(io_bus_write(&bus, 0x100c, &v, 8));
	cr_assert_eq(d.writes, 0);
}

Test(io_bus, an_overrun_range_takes_an_access_crossing_its_end_whole)
{
	struct fake_device d = {0}, next = {0};
	cr_assert_eq(io_bus_register_overrun(&bus, 0xf4, 1, fake_read, fake_write, &d, "d"), 0);
	cr_assert_eq(io_bus_register(&bus, 0xf5, 1, fake_read, fake_write, &next, "next"), 0);
	uint32_t v = 0x11223344;
	cr_assert(io_bus_write(&bus, 0xf4, &v, 4));
	cr_assert_eq(d.writes, 1);
	cr_assert_eq(d.last_offset, 0);
	cr_assert_eq(d.last_value, 0x11223344, "the whole value");
	cr_assert_eq(next.writes, 0, "the range of its first byte takes it");
	cr_assert(io_bus_read(&bus, 0xf4, &v, 4));
	cr_assert_eq(v, 0x5a5a5a5a);
	cr_assert_eq(d.reads, 1);
	cr_assert_not(io_bus_write(&bus, 0xf3, &v, 4), "one starting below it is not its");
	cr_assert_eq(d.writes, 1);
}

Test(io_bus, overlapping_ranges_are_refused)
{
	struct fake_device d = {0};
	cr_assert_eq(io_bus_register(&bus, 0x1000, 0x100, fake_read, fake_write, &d, "a"), 0);
	cr_assert_neq(io_bus_register(&bus, 0x10ff, 0x10, fake_read, fake_write, &d, "b"), 0);
	cr_assert_neq(io_bus_register(&bus, 0xff0, 0x11, fake_read, fake_write, &d, "c"), 0);
	cr_assert_neq(io_bus_register(&bus, 0x3000, 0, fake_read, fake_write, &d, "empty"), 0);
	cr_assert_eq(io_bus_register(&bus, 0x1100, 0x10, fake_read, fake_write, &d, "d"), 0);
}

Test(io_bus, an_unregistered_range_stops_claiming_and_its_space_is_free_again)
{
	struct fake_device a = {0}, b = {0}, c = {0};
	cr_assert_eq(io_bus_register(&bus, 0x1000, 0x100, fake_read, fake_write, &a, "a"), 0);
	cr_assert_eq(io_bus_register(&bus, 0x2000, 0x100, fake_read, fake_write, &b, "b"), 0);
	cr_assert_eq(io_bus_register(&bus, 0x3000, 0x100, fake_read, fake_write, &c, "c"), 0);
	cr_assert_eq(io_bus_unregister(&bus, 0x2000, &b), 0);
	uint32_t v = 0;
	cr_assert_not(io_bus_write(&bus, 0x2000, &v, 4));
	cr_assert_eq(b.writes, 0);
	/* The neighbours still work (the table stays sorted). */
	cr_assert(io_bus_write(&bus, 0x1000, &v, 4));
	cr_assert(io_bus_write(&bus, 0x3000, &v, 4));
	cr_assert_eq(a.writes + c.writes, 2);
	/* And the range can move into the hole. */
	cr_assert_eq(io_bus_register(&bus, 0x2080, 0x80, fake_read, fake_write, &b, "b"), 0);
	cr_assert(io_bus_write(&bus, 0x2080, &v, 4));
	cr_assert_eq(b.writes, 1);
	cr_assert_eq(b.last_offset, 0);
}

Test(io_bus, unregister_needs_the_exact_base_and_owner)
{
	struct fake_device a = {0}, b = {0};
	cr_assert_eq(io_bus_register(&bus, 0x1000, 0x100, fake_read, fake_write, &a, "a"), 0);
	cr_assert_neq(io_bus_unregister(&bus, 0x1000, &b), 0);
	cr_assert_neq(io_bus_unregister(&bus, 0x1004, &a), 0);
	cr_assert_eq(io_bus_unregister(&bus, 0x1000, &a), 0);
	cr_assert_neq(io_bus_unregister(&bus, 0x1000, &a), 0, "already gone");
}

/* A "BAR register" whose write moves another range, as a PCI function reached through ECAM
 * moves its BAR: the table changes under a running dispatch on the same bus. */
struct mover {
	struct fake_device target;
	uint64_t target_base;
};

static void move_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)offset;
	(void)size;
	struct mover *m = opaque;
	uint32_t new_base;
	memcpy(&new_base, data, 4);
	cr_assert_eq(io_bus_unregister(&bus, m->target_base, &m->target), 0);
	m->target_base = new_base;
	/* Grow the table past its first allocation, so that it is reallocated mid-dispatch. */
	for (int i = 0; i < 40; i++)
		cr_assert_eq(
		    io_bus_register(&bus, 0x100000 + i * 0x10, 0x10, NULL, NULL, NULL, "x"), 0);
	cr_assert_eq(io_bus_register(&bus, new_base, 0x100, fake_read, fake_write, &m->target, "t"),
		     0);
}

Test(io_bus, a_handler_may_move_a_range_of_its_own_bus)
{
	struct mover m = {.target_base = 0x5000};
	cr_assert_eq(io_bus_register(&bus, 0x10, 4, NULL, move_write, &m, "bar"), 0);
	cr_assert_eq(io_bus_register(&bus, 0x5000, 0x100, fake_read, fake_write, &m.target, "t"),
		     0);
	uint32_t new_base = 0x8000;
	cr_assert(io_bus_write(&bus, 0x10, &new_base, 4));
	uint32_t v = 7;
	cr_assert_not(io_bus_write(&bus, 0x5000, &v, 4));
	cr_assert(io_bus_write(&bus, 0x8004, &v, 4));
	cr_assert_eq(m.target.last_offset, 4);
}
