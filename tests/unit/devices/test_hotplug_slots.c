/* CPU hotplug's status bytes as the DSDT's methods use them: insert and removal requests raise
 * the GED's CPU event and are taken by writing their bit back; an eject of a present CPU
 * (not CPU 0) reaches the VMM once, whatever else the guest writes. A slot asked to go is
 * leaving until that eject, though the guest took the request long before. */
#include "devices/hotplug_slots.h"
#include "devices/io_bus.h"
#include "machine/layout.h"

#include <criterion/criterion.h>

static struct io_bus bus;
static struct acpi_ged ged;
static struct hotplug_slots hp;
static const struct hotplug_slots_kind cpu_kind = {"cpu-hotplug", LAYOUT_PORT_CPU_HOTPLUG,
						   LAYOUT_GED_EVENT_CPU_HOTPLUG};
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
	cr_assert_eq(hotplug_slots_init(&hp, cpu_kind, 4, 2, &ged,
					(struct hotplug_slots_ops){record_eject, NULL}),
		     0);
	cr_assert_eq(hotplug_slots_attach(&hp, &bus), 0);
}

static void teardown(void)
{
	hotplug_slots_destroy(&hp);
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
	cr_assert_eq(status(0), LAYOUT_HP_PRESENT);
	cr_assert_eq(status(1), LAYOUT_HP_PRESENT);
	cr_assert_eq(status(2), 0);
	cr_assert_eq(status(3), 0);
	cr_assert_eq(pulses, 0);
	cr_assert_not(io_bus_read(&bus, LAYOUT_PORT_CPU_HOTPLUG + 4, &(uint8_t){0}, 1),
		      "only the 4 possible CPUs have a byte");
}

Test(cpu_hotplug, an_insert_is_an_event_the_guest_takes)
{
	hotplug_slots_insert(&hp, 2);
	cr_assert_eq(pulses, 1);
	cr_assert_eq(ged_events(), LAYOUT_GED_EVENT_CPU_HOTPLUG);
	cr_assert_eq(status(2), LAYOUT_HP_PRESENT | LAYOUT_HP_INSERT);
	write_status(2, LAYOUT_HP_INSERT);
	cr_assert_eq(status(2), LAYOUT_HP_PRESENT, "taken, still present");
}

Test(cpu_hotplug, a_removal_ends_with_the_guests_eject)
{
	cr_assert_not(hotplug_slots_leaving(&hp, 1));
	hotplug_slots_request_removal(&hp, 1);
	cr_assert_eq(status(1), LAYOUT_HP_PRESENT | LAYOUT_HP_REMOVE);
	cr_assert(hotplug_slots_leaving(&hp, 1));
	write_status(1, LAYOUT_HP_REMOVE);
	cr_assert_eq(status(1), LAYOUT_HP_PRESENT, "present until ejected");
	cr_assert(hotplug_slots_leaving(&hp, 1),
		  "still leaving once the guest took the request, until its eject");
	cr_assert_eq(ejects, 0);
	write_status(1, LAYOUT_HP_EJECT);
	cr_assert_eq(ejects, 1);
	cr_assert_eq(last_ejected, 1);
	cr_assert_eq(status(1), 0);
	cr_assert_not(hotplug_slots_leaving(&hp, 1), "gone, not leaving");
	write_status(1, LAYOUT_HP_EJECT);
	cr_assert_eq(ejects, 1, "ejecting an absent CPU is nothing");
}

Test(cpu_hotplug, an_insert_calls_off_a_pending_removal)
{
	hotplug_slots_request_removal(&hp, 1);
	hotplug_slots_insert(&hp, 1);
	cr_assert_eq(status(1), LAYOUT_HP_PRESENT | LAYOUT_HP_INSERT);
	cr_assert_not(hotplug_slots_leaving(&hp, 1));
}

Test(cpu_hotplug, an_eject_nobody_asked_for_is_not_a_leaving_slot)
{
	write_status(1, LAYOUT_HP_EJECT);
	cr_assert_eq(ejects, 1);
	cr_assert_not(hotplug_slots_leaving(&hp, 1));
	hotplug_slots_insert(&hp, 1);
	cr_assert_not(hotplug_slots_leaving(&hp, 1));
	cr_assert_not(hotplug_slots_leaving(&hp, 200), "a slot beyond the last is not leaving");
}

Test(cpu_hotplug, hostile_writes_change_nothing_they_should_not)
{
	write_status(0, 0xff); /* CPU 0 cannot go */
	cr_assert_eq(status(0), LAYOUT_HP_PRESENT);
	cr_assert_eq(ejects, 0);
	write_status(3, LAYOUT_HP_EJECT | LAYOUT_HP_PRESENT); /* not present */
	cr_assert_eq(status(3), 0);
	cr_assert_eq(ejects, 0);
	uint32_t wide = 0xffffffff;
	io_bus_write(&bus, LAYOUT_PORT_CPU_HOTPLUG + 1, &wide, 4);
	cr_assert_eq(status(1), LAYOUT_HP_PRESENT, "wide writes are ignored");
	cr_assert_eq(ejects, 0);
}

Test(cpu_hotplug, init_refuses_impossible_counts)
{
	struct hotplug_slots other;
	struct hotplug_slots_ops none = {0};
	cr_assert_eq(hotplug_slots_init(&other, cpu_kind, 0, 0, &ged, none), -1);
	cr_assert_eq(hotplug_slots_init(&other, cpu_kind, HOTPLUG_SLOTS_MAX + 1, 1, &ged, none),
		     -1);
	cr_assert_eq(hotplug_slots_init(&other, cpu_kind, 2, 3, &ged, none), -1);
}

/* The same registers serve PCI slots: their own ports and GED event, slots marked present
 * without an event (those taken at boot), and a guest's eject of one. */
Test(cpu_hotplug, pci_slots_have_their_ports_and_event)
{
	struct hotplug_slots pci;
	struct hotplug_slots_kind kind = {"pci-hotplug", LAYOUT_PORT_PCI_HOTPLUG,
					  LAYOUT_GED_EVENT_PCI_HOTPLUG};
	cr_assert_eq(hotplug_slots_init(&pci, kind, 32, 0, &ged,
					(struct hotplug_slots_ops){record_eject, NULL}),
		     0);
	cr_assert_eq(hotplug_slots_attach(&pci, &bus), 0);
	hotplug_slots_set_present(&pci, 3, true);
	cr_assert_eq(pulses, 0, "present at boot: no event");
	uint8_t v = 0;
	cr_assert(io_bus_read(&bus, LAYOUT_PORT_PCI_HOTPLUG + 3, &v, 1));
	cr_assert_eq(v, LAYOUT_HP_PRESENT);
	hotplug_slots_insert(&pci, 5);
	cr_assert_eq(ged_events(), LAYOUT_GED_EVENT_PCI_HOTPLUG);
	hotplug_slots_request_removal(&pci, 3);
	v = LAYOUT_HP_EJECT;
	cr_assert(io_bus_write(&bus, LAYOUT_PORT_PCI_HOTPLUG + 3, &v, 1));
	cr_assert_eq(ejects, 1);
	cr_assert_eq(last_ejected, 3);
	cr_assert_eq(hotplug_slots_status(&pci, 3), 0);
	cr_assert_eq(status(3), 0, "the CPUs' bytes are not the slots'");
	hotplug_slots_destroy(&pci);
}
