/* The Generic Event Device's register and line: a raised event is a pulse on the line and a
 * bit the guest's _EVT reads once; a read hands the pending events over and clears them. */
#include "devices/acpi_ged.h"
#include "devices/io_bus.h"
#include "machine/layout.h"

#include <criterion/criterion.h>

#define MAX_EDGES 16

struct line_log {
	uint32_t gsi[MAX_EDGES];
	bool level[MAX_EDGES];
	unsigned n;
};

static int record_level(void *opaque, uint32_t gsi, bool level)
{
	struct line_log *log = opaque;
	if (log->n < MAX_EDGES) {
		log->gsi[log->n] = gsi;
		log->level[log->n] = level;
	}
	log->n++;
	return 0;
}

static struct io_bus bus;
static struct acpi_ged dev;
static struct line_log line;
static struct irq_router router = {.set_level = record_level, .opaque = &line};

static void setup(void)
{
	line = (struct line_log){0};
	io_bus_init(&bus, "pio");
	cr_assert_eq(acpi_ged_init(&dev, &router, LAYOUT_GSI_GED), 0);
	cr_assert_eq(acpi_ged_attach(&dev, &bus), 0);
}

static void teardown(void)
{
	io_bus_destroy(&bus);
}

TestSuite(acpi_ged, .init = setup, .fini = teardown);

static uint8_t read_events(void)
{
	uint8_t value = 0xee;
	cr_assert(io_bus_read(&bus, LAYOUT_PORT_GED, &value, 1));
	return value;
}

Test(acpi_ged, nothing_pending_reads_zero_and_leaves_the_line_alone)
{
	cr_assert_eq(read_events(), 0);
	cr_assert_eq(line.n, 0);
}

Test(acpi_ged, a_press_pulses_the_line_and_is_read_once)
{
	acpi_ged_raise(&dev, ACPI_GED_POWER_BUTTON);
	cr_assert_eq(line.n, 2, "one edge: up then down");
	cr_assert(line.level[0] && !line.level[1]);
	cr_assert_eq(line.gsi[0], LAYOUT_GSI_GED);
	cr_assert_eq(line.gsi[1], LAYOUT_GSI_GED);
	cr_assert_eq(read_events(), ACPI_GED_POWER_BUTTON);
	cr_assert_eq(read_events(), 0, "the read cleared it");
}

Test(acpi_ged, presses_before_the_guest_reads_are_one_event_and_each_a_pulse)
{
	acpi_ged_raise(&dev, ACPI_GED_POWER_BUTTON);
	acpi_ged_raise(&dev, ACPI_GED_POWER_BUTTON);
	cr_assert_eq(line.n, 4);
	cr_assert_eq(read_events(), ACPI_GED_POWER_BUTTON);
	cr_assert_eq(read_events(), 0);
	cr_assert_eq(dev.raised, 2);
}

Test(acpi_ged, writes_and_wide_reads_change_nothing)
{
	acpi_ged_raise(&dev, ACPI_GED_POWER_BUTTON);
	uint8_t zero = 0, ones = 0xff;
	cr_assert(io_bus_write(&bus, LAYOUT_PORT_GED, &zero, 1));
	cr_assert(io_bus_write(&bus, LAYOUT_PORT_GED, &ones, 1));
	cr_assert_eq(read_events(), ACPI_GED_POWER_BUTTON, "a write neither clears nor sets");
	uint32_t wide = 0xeeeeeeee;
	io_bus_read(&bus, LAYOUT_PORT_GED, &wide, 4);
	cr_assert_eq(read_events(), 0);
}

Test(acpi_ged, the_port_is_the_layouts_and_taken_once)
{
	struct acpi_ged other;
	cr_assert_eq(acpi_ged_init(&other, &router, LAYOUT_GSI_GED), 0);
	cr_assert_neq(acpi_ged_attach(&other, &bus), 0, "a second device on the same port");
}
