#include "devices/acpi_power.h"
#include "devices/io_bus.h"
#include "machine/layout.h"

#include <criterion/criterion.h>

struct counters {
	unsigned resets, poweroffs;
};

static void count_reset(void *opaque)
{
	((struct counters *)opaque)->resets++;
}

static void count_poweroff(void *opaque)
{
	((struct counters *)opaque)->poweroffs++;
}

static struct io_bus bus;
static struct acpi_power dev;
static struct counters counters;

static void setup(void)
{
	counters = (struct counters){0};
	io_bus_init(&bus, "pio");
	cr_assert_eq(
	    acpi_power_init(&dev, (struct power_callbacks){count_reset, count_poweroff, &counters}),
	    0);
	cr_assert_eq(acpi_power_attach(&dev, &bus), 0);
}

static void teardown(void)
{
	io_bus_destroy(&bus);
}

static void outb(uint16_t port, uint8_t value)
{
	cr_assert(io_bus_write(&bus, port, &value, 1));
}

static uint8_t sleep_value(unsigned slp_typ, bool slp_en)
{
	return (uint8_t)(slp_typ << 2 | (slp_en ? 0x20 : 0));
}

TestSuite(acpi_power, .init = setup, .fini = teardown);

Test(acpi_power, s5_with_slp_en_powers_off)
{
	outb(LAYOUT_PORT_SLEEP_CTL, sleep_value(5, true));
	cr_assert_eq(counters.poweroffs, 1);
	cr_assert_eq(counters.resets, 0);
}

Test(acpi_power, other_sleep_writes_do_nothing)
{
	outb(LAYOUT_PORT_SLEEP_CTL, sleep_value(5, false));
	for (unsigned typ = 0; typ < 8; typ++)
		if (typ != 5)
			outb(LAYOUT_PORT_SLEEP_CTL, sleep_value(typ, true));
	cr_assert_eq(counters.poweroffs, 0);
	cr_assert_eq(counters.resets, 0);
}

Test(acpi_power, reset_register_resets_on_its_value_only)
{
	outb(LAYOUT_PORT_RESET, 2);
	outb(LAYOUT_PORT_RESET, 0);
	cr_assert_eq(counters.resets, 0);
	outb(LAYOUT_PORT_RESET, 1);
	cr_assert_eq(counters.resets, 1);
	cr_assert_eq(counters.poweroffs, 0);
}

Test(acpi_power, sleep_status_reads_zero_and_accepts_wak_sts_clear)
{
	outb(LAYOUT_PORT_SLEEP_STS, 0x80);
	uint8_t value = 0xff;
	cr_assert(io_bus_read(&bus, LAYOUT_PORT_SLEEP_STS, &value, 1));
	cr_assert_eq(value, 0);
	cr_assert_eq(counters.resets + counters.poweroffs, 0);
}
