/* The DSDT's processor devices, for a machine whose CPUs can be added and removed while the
 * guest runs (acpi_config.cpu_hotplug). Each possible CPU is a device (ACPI0007,
 * _UID = its index = its APIC ID) over its status byte at LAYOUT_PORT_CPU_HOTPLUG + index:
 *   Device (C001) {
 *     Name (_HID, "ACPI0007")  Name (_UID, 1)
 *     OperationRegion (CREG, SystemIO, 0x701, 1)  Field (CREG, ByteAcc, ...) { CSTS, 8 }
 *     Method (_STA) { If (CSTS & PRESENT) { Return (0x0F) } Return (Zero) }
 *     Name (_MAT, Buffer () { 0, 8, 1, 1, 1, 0, 0, 0 })   the enabled MADT entry
 *     Method (_EJ0, 1) { CSTS = EJECT }
 *     Method (CSCN) { Local0 = CSTS
 *       If (Local0 & INSERT) { CSTS = INSERT  Notify (\_SB.C001, 1) }    device check
 *       If (Local0 & REMOVE) { CSTS = REMOVE  Notify (\_SB.C001, 3) } } } eject request
 * The Generic Event Device's _EVT calls each CSCN on a CPU hotplug event (acpi_cpus_scan).
 * CPU 0 cannot be removed, so it has no _EJ0 and nothing to scan. _MAT is what makes a CPU
 * added later usable: Linux takes its APIC ID from _MAT, the MADT entry being disabled. */
#include "machine/acpi.h"

#include "machine/layout.h"

#include <stdio.h>

#define PROCESSOR_HID	     "ACPI0007"
#define STA_PRESENT_ENABLED  0x0f
#define NOTIFY_DEVICE_CHECK  1
#define NOTIFY_EJECT_REQUEST 3
#define MADT_TYPE_LAPIC	     0
#define MADT_LAPIC_LENGTH    8
#define MADT_LAPIC_ENABLED   1

/* The device's name in \_SB (C000 .. C0FE), and its full path. */
static void cpu_names(unsigned cpu, char name[8], char path[16])
{
	snprintf(name, 8, "C%03X", cpu & 0xfff); /* cpu < ACPI_MAX_HOTPLUG_CPUS */
	snprintf(path, 16, "\\_SB.%s", name);
}

static void put_status_method(struct aml_builder *b)
{
	aml_method_begin(b, "_STA", 0, true);
	aml_if_name_has(b, "CSTS", LAYOUT_HP_PRESENT);
	aml_return(b);
	aml_integer(b, STA_PRESENT_ENABLED);
	aml_if_end(b);
	aml_return(b);
	aml_integer(b, 0);
	aml_method_end(b);
}

static void put_removal_methods(struct aml_builder *b, const char *cpu)
{
	aml_method_begin(b, "_EJ0", 1, true);
	aml_store_integer(b, LAYOUT_HP_EJECT, "CSTS");
	aml_method_end(b);
	aml_method_begin(b, "CSCN", 0, true);
	aml_store(b);
	aml_name_ref(b, "CSTS");
	aml_local(b, 0);
	aml_take_event(b, 0, LAYOUT_HP_INSERT, "CSTS", cpu, NOTIFY_DEVICE_CHECK);
	aml_take_event(b, 0, LAYOUT_HP_REMOVE, "CSTS", cpu, NOTIFY_EJECT_REQUEST);
	aml_method_end(b);
}

static void put_cpu(struct aml_builder *b, unsigned cpu)
{
	char name[8], path[16];
	cpu_names(cpu, name, path);
	aml_device_begin(b, name);
	aml_name_string(b, "_HID", PROCESSOR_HID);
	aml_name_integer(b, "_UID", cpu);
	aml_operation_region(b, "CREG", AML_REGION_SYSTEM_IO, LAYOUT_PORT_CPU_HOTPLUG + cpu, 1);
	aml_field_begin(b, "CREG");
	aml_field_unit(b, "CSTS", 8);
	aml_field_end(b);
	put_status_method(b);
	const uint8_t mat[MADT_LAPIC_LENGTH] = {MADT_TYPE_LAPIC, MADT_LAPIC_LENGTH, (uint8_t)cpu,
						(uint8_t)cpu, MADT_LAPIC_ENABLED};
	aml_name_decl(b, "_MAT");
	aml_buffer(b, mat, sizeof(mat));
	if (cpu > 0)
		put_removal_methods(b, path);
	aml_device_end(b);
}

bool acpi_has_cpu_hotplug(const struct acpi_config *cfg)
{
	return cfg->cpu_hotplug;
}

void acpi_cpus_build(struct aml_builder *b, const struct acpi_config *cfg)
{
	if (!acpi_has_cpu_hotplug(cfg))
		return;
	for (unsigned cpu = 0; cpu < acpi_possible_cpus(cfg); cpu++)
		put_cpu(b, cpu);
}

void acpi_cpus_scan(struct aml_builder *b, const struct acpi_config *cfg)
{
	if (!acpi_has_cpu_hotplug(cfg))
		return;
	aml_if_local_has(b, 0, LAYOUT_GED_EVENT_CPU_HOTPLUG);
	for (unsigned cpu = 1; cpu < acpi_possible_cpus(cfg); cpu++) {
		char method[24];
		snprintf(method, sizeof(method), "\\_SB.C%03X.CSCN", cpu & 0xfff);
		aml_name_ref(b, method);
	}
	aml_if_end(b);
}
