/* CPU hotplug's status bytes as the DSDT's methods use them: insert and removal requests raise
 * the GED's CPU event and are taken by writing their bit back; an eject of a present CPU
 * (not CPU 0) reaches the VMM once, whatever else the guest writes. */
#include "devices/cpu_hotplug.h"
#include "devices/io_bus.h"
#include "machine/layout.h"

#include <criterion/criterion.h>

static struct io_bus bus;
static struct acpi_ged ged;
static struct cpu_hotplug hp;
static unsigned pulses, ejects, last_ejected;

static int count_pulses(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque;
	(void)gsi;
	pulses += level;
	return 0;
}

static struct irq_router router = {.set_level = count_pulses};

static void record_eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	ejects++;
	last_ejected = cpu;
}

static void setup(void)
{
	pulses = ejects = last_ejected = 0;
	io_bus_init(&bus, "pio");
	cr_assert_eq(acpi_ged_init(&ged, &router, LAYOUT_GSI_GED), 0);
	cr_assert_eq(acpi_ged_attach(&ged, &bus), 0);
	cr_assert_eq(
	    cpu_hotplug_init(&hp, 4, 2, &ged, (struct cpu_hotplug_ops){record_eject, NULL}), 0);
	cr_assert_eq(cpu_hotplug_attach(&hp, &bus), 0);
}

static void teardown(void)
{
	cpu_hotplug_destroy(&hp);
	io_bus_destroy(&bus);
}

TestSuite(cpu_hotplug, .init = setup, .fini = teardown);

static uint8_t status(unsigned cpu)
{
	uint8_t v = 0xee;
	cr_assert(io_bus_read(&bus, LAYOUT_PORT_CPU_HOTPLUG + cpu, &v, 1));
	return v;
}

static void write_status(unsigned cpu, uint8_t v)
{
	cr_assert(io_bus_write(&bus, LAYOUT_PORT_CPU_HOTPLUG + cpu, &v, 1));
}

static uint8_t ged_events(void)
{
	uint8_t v = 0;
	cr_assert(io_bus_read(&bus, LAYOUT_PORT_GED, &v, 1));
	return v;
}

Test(cpu_hotplug, boot_cpus_are_present_without_events)
{
	cr_assert_eq(status(0), LAYOUT_CPU_HP_PRESENT);
	cr_assert_eq(status(1), LAYOUT_CPU_HP_PRESENT);
	cr_assert_eq(status(2), 0);
	cr_assert_eq(status(3), 0);
	cr_assert_eq(pulses, 0);
	cr_assert_not(io_bus_read(&bus, LAYOUT_PORT_CPU_HOTPLUG + 4, &(uint8_t){0}, 1),
		      "only the 4 possible CPUs have a byte");
}

Test(cpu_hotplug, an_insert_is_an_event_the_guest_takes)
{
	cpu_hotplug_insert(&hp, 2);
	cr_assert_eq(pulses, 1);
	cr_assert_eq(ged_events(), LAYOUT_GED_EVENT_CPU_HOTPLUG);
	cr_assert_eq(status(2), LAYOUT_CPU_HP_PRESENT | LAYOUT_CPU_HP_INSERT);
	write_status(2, LAYOUT_CPU_HP_INSERT);
	cr_assert_eq(status(2), LAYOUT_CPU_HP_PRESENT, "taken, still present");
}

Test(cpu_hotplug, a_removal_ends_with_the_guests_eject)
{
	cpu_hotplug_request_removal(&hp, 1);
	cr_assert_eq(status(1), LAYOUT_CPU_HP_PRESENT | LAYOUT_CPU_HP_REMOVE);
	write_status(1, LAYOUT_CPU_HP_REMOVE);
	cr_assert_eq(status(1), LAYOUT_CPU_HP_PRESENT, "present until ejected");
	cr_assert_eq(ejects, 0);
	write_status(1, LAYOUT_CPU_HP_EJECT);
	cr_assert_eq(ejects, 1);
	cr_assert_eq(last_ejected, 1);
	cr_assert_eq(status(1), 0);
	write_status(1, LAYOUT_CPU_HP_EJECT);
	cr_assert_eq(ejects, 1, "ejecting an absent CPU is nothing");
}

Test(cpu_hotplug, an_insert_calls_off_a_pending_removal)
{
	cpu_hotplug_request_removal(&hp, 1);
	cpu_hotplug_insert(&hp, 1);
	cr_assert_eq(status(1), LAYOUT_CPU_HP_PRESENT | LAYOUT_CPU_HP_INSERT);
}

Test(cpu_hotplug, hostile_writes_change_nothing_they_should_not)
{
	write_status(0, 0xff); /* CPU 0 cannot go */
	cr_assert_eq(status(0), LAYOUT_CPU_HP_PRESENT);
	cr_assert_eq(ejects, 0);
	write_status(3, LAYOUT_CPU_HP_EJECT | LAYOUT_CPU_HP_PRESENT); /* not present */
	cr_assert_eq(status(3), 0);
	cr_assert_eq(ejects, 0);
	uint32_t wide = 0xffffffff;
	io_bus_write(&bus, LAYOUT_PORT_CPU_HOTPLUG + 1, &wide, 4);
	cr_assert_eq(status(1), LAYOUT_CPU_HP_PRESENT, "wide writes are ignored");
	cr_assert_eq(ejects, 0);
}

Test(cpu_hotplug, init_refuses_impossible_counts)
{
	struct cpu_hotplug other;
	struct cpu_hotplug_ops none = {0};
	cr_assert_eq(cpu_hotplug_init(&other, 0, 0, &ged, none), -1);
	cr_assert_eq(cpu_hotplug_init(&other, CPU_HOTPLUG_MAX_CPUS + 1, 1, &ged, none), -1);
	cr_assert_eq(cpu_hotplug_init(&other, 2, 3, &ged, none), -1);
}
